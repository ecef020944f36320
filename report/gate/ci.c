/* SPDX-License-Identifier: MIT
 *
 * ci.c - the verdict of `heapgraph check` rendered for people (text) and for
 * CI systems (JUnit, SARIF 2.1.0, GitHub Actions, GitLab code quality); see
 * ci.h. Each CI system wants a file:line to point at: the innermost frame
 * in the user's source tree is the line the user can change, so locations
 * are picked by rep_ci_location and made relative to the source root, which
 * is how GitHub and GitLab match them to the repository. Fingerprints hash
 * the function-name key of the stack so that they survive rebuilds.
 */
#include "report/gate/ci.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/render/render.h"

#define GITHUB_ANNOTATIONS 10

/* ---- shared helpers ---- */

/* Entries the CI formats list: counted by the leak gates, or possible. */
static int reported(const struct rep_ck_leak *l, unsigned mask)
{
    if (l->suppressed || l->in_baseline)
        return 0;
    return rep_ck_leak_blocks(l, mask) > 0 || l->kind == REP_LEAK_POSSIBLE;
}

/* 1 for each leak entry named by a failed gate. Caller frees. */
static char *offending_flags(const struct rep_run *run, const struct rep_check *c)
{
    char *flag = calloc(run->nleaks ? run->nleaks : 1, 1);
    if (!flag)
        return NULL;
    for (size_t i = 0; i < c->nresults; i++)
        for (size_t k = 0; k < c->results[i].noffending; k++)
            flag[c->results[i].offending[k]] = 1;
    return flag;
}

static int by_bytes_desc(const void *a, const void *b, void *ctx)
{
    const struct rep_run *r = ctx;
    uint64_t x = rep_ck_leak_bytes(&r->leaks[*(const size_t *)a], ~0u);
    uint64_t y = rep_ck_leak_bytes(&r->leaks[*(const size_t *)b], ~0u);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Indexes of reported entries, biggest first; *n gets the count. Caller frees. */
static size_t *reported_list(const struct rep_run *run, unsigned mask, size_t *n)
{
    size_t *idx = malloc((run->nleaks ? run->nleaks : 1) * sizeof *idx);
    *n = 0;
    if (!idx)
        return NULL;
    for (size_t i = 0; i < run->nleaks; i++)
        if (reported(&run->leaks[i], mask))
            idx[(*n)++] = i;
    qsort_r(idx, *n, sizeof *idx, by_bytes_desc, (void *)run);
    return idx;
}

/* The leak entries a CI writer reports, biggest first, and which of them a
 * failed gate names. */
struct ci_leaks {
    size_t *idx;
    size_t n;
    char *flag;
};

static void ci_leaks_release(struct ci_leaks *cl)
{
    free(cl->idx);
    free(cl->flag);
}

/* Fills *cl; returns -1 (with nothing left to free) when out of memory. */
static int ci_leaks_get(struct ci_leaks *cl, const struct rep_run *run, const struct rep_check *c,
                        const struct rep_ci_opts *o)
{
    cl->idx = reported_list(run, rep_leak_mask(o->leak_kinds), &cl->n);
    cl->flag = offending_flags(run, c);
    if (cl->idx && cl->flag)
        return 0;
    ci_leaks_release(cl);
    return -1;
}

/* file relative to source_root when it is inside it (a relative path
 * that does not climb out counts as inside), else NULL. */
static const char *inside_root(const char *file, const char *source_root)
{
    size_t rl = source_root ? strlen(source_root) : 0;
    while (rl > 1 && source_root[rl - 1] == '/')
        rl--;
    if (file[0] != '/' && strncmp(file, "../", 3))
        return file;
    if (rl && !strncmp(file, source_root, rl) && file[rl] == '/')
        return file + rl + 1;
    return NULL;
}

const struct rep_frame *rep_ci_location(const struct rep_ck_stack *st,
                                        const char *source_root, const char **rel)
{
    const struct rep_frame *fallback = NULL;
    for (uint32_t i = 0; i < st->nframes; i++) {
        const char *file = st->frames[i].file;
        if (!file)
            continue;
        if (!fallback)
            fallback = &st->frames[i];
        if ((*rel = inside_root(file, source_root)))
            return &st->frames[i];
    }
    if (fallback)
        *rel = fallback->file;
    return fallback;
}

/* FNV-1a over the stack key: stable across rebuilds. */
static uint64_t fingerprint(const struct rep_ck_leak *l)
{
    size_t n = rep_ck_stack_key(&l->stack, NULL, 0) + 1;
    char *k = malloc(n);
    uint64_t h = 0xcbf29ce484222325ull ^ l->kind;
    if (!k)
        return h;
    rep_ck_stack_key(&l->stack, k, n);
    for (const char *p = k; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    free(k);
    return h;
}

static const char *describe_kind(int kind)
{
    switch (kind) {
    case REP_LEAK_DEFINITE: return "definitely lost";
    case REP_LEAK_CYCLE: return "lost in a cycle";
    case REP_LEAK_POSSIBLE: return "possibly lost";
    case REP_LEAK_REACHABLE: return "still reachable";
    case REP_LEAK_NOT_FREED: return "not freed (the process left no exit snapshot)";
    default: return "lost";
    }
}

static const char *top_function(const struct rep_ck_leak *l)
{
    for (uint32_t i = 0; i < l->stack.nframes; i++)
        if (l->stack.frames[i].function)
            return l->stack.frames[i].function;
    return "an unknown function";
}

/* One sentence describing a leak entry. */
static void leak_message(char *buf, size_t len, const struct rep_run *run,
                         const struct rep_ck_leak *l)
{
    int n = snprintf(buf, len, "%" PRIu64 " bytes in %" PRIu64 " blocks %s", l->bytes,
                     l->blocks, describe_kind(l->kind));
    if (n > 0 && (size_t)n < len && l->indirect_blocks)
        n += snprintf(buf + n, len - (size_t)n, ", with %" PRIu64 " bytes in %" PRIu64
                      " indirect blocks", l->indirect_bytes, l->indirect_blocks);
    if (n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ", allocated in %s", top_function(l));
    if (n > 0 && (size_t)n < len && run->nprocesses > 1)
        snprintf(buf + n, len - (size_t)n, " (process %d)",
                 (int)run->processes[l->process].pid);
}

static void frame_text(FILE *f, const struct rep_frame *fr)
{
    fputs(fr->function ? fr->function : "???", f);
    if (fr->file)
        fprintf(f, " %s:%u", fr->file, fr->line);
    else
        fprintf(f, " (%s+0x%" PRIx64 ")", fr->module ? fr->module : "?", fr->offset);
}

/* ---- text ---- */

static void text_stack(FILE *f, const struct rep_ck_stack *st, unsigned max)
{
    uint32_t n = max && st->nframes > max ? max : st->nframes;
    for (uint32_t i = 0; i < n; i++) {
        fprintf(f, "        #%u ", i);
        frame_text(f, &st->frames[i]);
        putc('\n', f);
    }
    if (n < st->nframes)
        fprintf(f, "        ... %u more frames\n", st->nframes - n);
}

/* With several processes (a test suite), one line per process that leaked,
 * so the failing test can be named without reading stacks. */
static void text_processes(FILE *f, const struct rep_run *run, unsigned mask)
{
    unsigned shown = 0, more = 0;
    if (run->nprocesses < 2)
        return;
    for (uint32_t p = 0; p < run->nprocesses; p++) {
        uint64_t bytes = 0, blocks = 0;
        for (size_t i = 0; i < run->nleaks; i++) {
            const struct rep_ck_leak *l = &run->leaks[i];
            if (l->process == p && !l->suppressed && !l->in_baseline) {
                bytes += rep_ck_leak_bytes(l, mask);
                blocks += rep_ck_leak_blocks(l, mask);
            }
        }
        if (!blocks)
            continue;
        if (shown++ == 20) {
            more++;
            continue;
        }
        const struct rep_ck_process *pr = &run->processes[p];
        fprintf(f, "process %d leaked %" PRIu64 " B in %" PRIu64 " blocks (peak %" PRIu64
                " B): %.60s\n", (int)pr->pid, bytes, blocks, pr->peak_bytes,
                pr->command ? pr->command : "?");
    }
    if (more)
        fprintf(f, "... and %u more processes that leaked\n", more);
}

int rep_ci_text(FILE *f, const struct rep_run *run, const struct rep_check *c,
                const struct rep_ci_opts *o)
{
    text_processes(f, run, rep_leak_mask(o->leak_kinds));
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(f, "note: %s\n", c->notes[i]);
    for (size_t i = 0; i < c->nresults; i++) {
        const struct rep_gate_result *r = &c->results[i];
        fprintf(f, "%-20s %-34s limit %-22s %s\n", r->name, r->value, r->limit,
                r->pass ? "PASS" : "FAIL");
    }
    for (size_t i = 0; i < c->nresults; i++) {
        const struct rep_gate_result *r = &c->results[i];
        size_t n = o->max_leaks && r->noffending > o->max_leaks ? o->max_leaks : r->noffending;
        if (r->pass || !r->noffending)
            continue;
        fprintf(f, "\n%s failed on %zu leak entr%s:\n", r->name, r->noffending,
                r->noffending == 1 ? "y" : "ies");
        for (size_t k = 0; k < n; k++) {
            char msg[512];
            const struct rep_ck_leak *l = &run->leaks[r->offending[k]];
            leak_message(msg, sizeof msg, run, l);
            fprintf(f, "    %s\n", msg);
            text_stack(f, &l->stack, o->max_frames);
        }
        if (n < r->noffending)
            fprintf(f, "    ... %zu more\n", r->noffending - n);
    }
    fprintf(f, "%s: %zu of %zu gates failed\n", c->failed ? "FAIL" : "PASS", c->failed,
            c->nresults);
    return ferror(f) ? -1 : 0;
}

/* ---- JUnit ---- */

static void xml_puts(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 forbids most control characters even as references. */
            if (ch < 0x20 && ch != '\n' && ch != '\t')
                putc('?', f);
            else
                putc(ch, f);
        }
    }
}

static void junit_failure(FILE *f, const struct rep_run *run, const struct rep_gate_result *r,
                          const struct rep_ci_opts *o)
{
    fputs("      <failure type=\"gate\" message=\"", f);
    xml_puts(f, r->name);
    fputs(": ", f);
    xml_puts(f, r->value);
    fputs(", limit ", f);
    xml_puts(f, r->limit);
    fputs("\">", f);
    for (size_t k = 0; k < r->noffending; k++) {
        const struct rep_ck_leak *l = &run->leaks[r->offending[k]];
        char msg[512];
        leak_message(msg, sizeof msg, run, l);
        xml_puts(f, msg);
        putc('\n', f);
        uint32_t n = o->max_frames && l->stack.nframes > o->max_frames ? o->max_frames
                                                                        : l->stack.nframes;
        for (uint32_t i = 0; i < n; i++) {
            const struct rep_frame *fr = &l->stack.frames[i];
            fprintf(f, "    #%u ", i);
            xml_puts(f, fr->function ? fr->function : "???");
            if (fr->file) {
                putc(' ', f);
                xml_puts(f, fr->file);
                fprintf(f, ":%u", fr->line);
            }
            putc('\n', f);
        }
    }
    fputs("</failure>\n", f);
}

int rep_ci_junit(FILE *f, const struct rep_run *run, const struct rep_check *c,
                 const struct rep_ci_opts *o)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites name=\"heapgraph\" tests=\"%zu\" failures=\"%zu\">\n"
            "  <testsuite name=\"heapgraph.check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n",
            c->nresults, c->failed, c->nresults, c->failed);
    for (size_t i = 0; i < c->nresults; i++) {
        const struct rep_gate_result *r = &c->results[i];
        fputs("    <testcase classname=\"heapgraph.check\" name=\"", f);
        xml_puts(f, r->name);
        fputs("\">\n", f);
        if (!r->pass)
            junit_failure(f, run, r, o);
        fputs("      <system-out>", f);
        xml_puts(f, r->value);
        fputs(" (limit ", f);
        xml_puts(f, r->limit);
        fputs(")</system-out>\n    </testcase>\n", f);
    }
    if (c->nnotes) {
        fputs("    <system-out>", f);
        for (size_t i = 0; i < c->nnotes; i++) {
            xml_puts(f, c->notes[i]);
            putc('\n', f);
        }
        fputs("</system-out>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- SARIF 2.1.0 ---- */

static const struct {
    const char *id, *name, *text;
} rules[REP_LEAK_NKINDS] = {
    [REP_LEAK_DEFINITE] = {"HG001", "DefiniteLeak",
                           "Memory allocated here is lost: no pointer to it remains."},
    [REP_LEAK_CYCLE] = {"HG002", "CycleLeak",
                        "Memory allocated here is lost in a cycle of blocks that point at each "
                        "other and that nothing else points at."},
    [REP_LEAK_INDIRECT] = {"HG003", "IndirectLeak",
                           "Memory allocated here is reachable only from lost memory."},
    [REP_LEAK_POSSIBLE] = {"HG004", "PossibleLeak",
                           "Memory allocated here is reachable only through interior pointers."},
    [REP_LEAK_REACHABLE] = {"HG005", "StillReachable",
                            "Memory allocated here was still reachable at exit."},
    [REP_LEAK_NOT_FREED] = {"HG006", "NotFreed",
                            "Memory allocated here was not freed before the process ended "
                            "without an exit snapshot (crash or kill)."},
};

static void sarif_rules(FILE *f)
{
    for (int k = 0; k < REP_LEAK_NKINDS; k++) {
        fprintf(f, "%s\n          {\"id\": \"%s\", \"name\": \"%s\", "
                "\"shortDescription\": {\"text\": \"%s\"}, "
                "\"fullDescription\": {\"text\": \"%s\"}, "
                "\"help\": {\"text\": \"%s See heapgraph's report for the full stack.\"}, "
                "\"defaultConfiguration\": {\"level\": \"%s\"}, "
                "\"properties\": {\"tags\": [\"memory\", \"leak\"], \"precision\": \"high\"}}",
                k ? "," : "", rules[k].id, rules[k].name, describe_kind(k), rules[k].text,
                rules[k].text, k == REP_LEAK_POSSIBLE || k == REP_LEAK_REACHABLE ? "warning"
                                                                           : "error");
    }
}

static void sarif_physical(FILE *f, const char *uri, unsigned line)
{
    fputs("{\"artifactLocation\": {\"uri\": ", f);
    rep_json_puts(f, uri);
    fprintf(f, ", \"uriBaseId\": \"%%SRCROOT%%\"}, \"region\": {\"startLine\": %u}}",
            line ? line : 1);
}

static void sarif_codeflow(FILE *f, const struct rep_ck_stack *st, const char *root)
{
    int first = 1;
    fputs(", \"codeFlows\": [{\"threadFlows\": [{\"locations\": [", f);
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct rep_frame *fr = &st->frames[i];
        if (!fr->file)
            continue;
        const char *rel = inside_root(fr->file, root);
        fputs(first ? "\n            " : ",\n            ", f);
        fputs("{\"location\": {\"physicalLocation\": ", f);
        sarif_physical(f, rel ? rel : fr->file, fr->line);
        fputs(", \"message\": {\"text\": ", f);
        rep_json_puts(f, fr->function ? fr->function : "???");
        fputs("}}}", f);
        first = 0;
    }
    fputs("]}]}]", f);
}

static void sarif_result(FILE *f, const struct rep_run *run, const struct rep_ck_leak *l,
                         int offending, const char *root)
{
    char msg[512];
    const char *rel = NULL;
    const struct rep_frame *loc = rep_ci_location(&l->stack, root, &rel);
    const char *level = offending ? "error" : l->kind == REP_LEAK_POSSIBLE ? "note" : "warning";
    leak_message(msg, sizeof msg, run, l);
    fprintf(f, "\n        {\"ruleId\": \"%s\", \"level\": \"%s\", \"message\": {\"text\": ",
            rules[l->kind].id, level);
    rep_json_puts(f, msg);
    fputs("},\n         \"locations\": [{\"physicalLocation\": ", f);
    if (loc)
        sarif_physical(f, rel, loc->line);
    else
        sarif_physical(f, l->stack.nframes ? l->stack.frames[0].module : "unknown", 1);
    fprintf(f, "}],\n         \"partialFingerprints\": {\"heapgraphStack/v1\": \"%016" PRIx64
            "\"}", fingerprint(l));
    if (loc)
        sarif_codeflow(f, &l->stack, root);
    fprintf(f, ",\n         \"properties\": {\"bytes\": %" PRIu64 ", \"blocks\": %" PRIu64
            ", \"indirectBytes\": %" PRIu64 ", \"indirectBlocks\": %" PRIu64 "}}",
            l->bytes, l->blocks, l->indirect_bytes, l->indirect_blocks);
}

int rep_ci_sarif(FILE *f, const struct rep_run *run, const struct rep_check *c,
                 const struct rep_ci_opts *o)
{
    struct ci_leaks cl;
    if (ci_leaks_get(&cl, run, c, o) < 0)
        return -1;
    fputs("{\"version\": \"2.1.0\",\n \"$schema\": "
          "\"https://json.schemastore.org/sarif-2.1.0.json\",\n \"runs\": [{\n"
          "  \"tool\": {\"driver\": {\"name\": \"heapgraph\", \"version\": \"" HG_VERSION "\", "
          "\"rules\": [", f);
    sarif_rules(f);
    fputs("]}},\n  \"originalUriBaseIds\": {\"%SRCROOT%\": {\"uri\": ", f);
    char *root_uri = NULL;
    if (asprintf(&root_uri, "file://%s/", o->source_root ? o->source_root : "") < 0)
        root_uri = NULL;
    rep_json_puts(f, root_uri ? root_uri : "file:///");
    free(root_uri);
    fputs("}},\n  \"results\": [", f);
    for (size_t i = 0; i < cl.n; i++) {
        if (i)
            putc(',', f);
        sarif_result(f, run, &run->leaks[cl.idx[i]], cl.flag[cl.idx[i]], o->source_root);
    }
    fprintf(f, "],\n  \"invocations\": [{\"executionSuccessful\": true, \"exitCode\": %d}]}]}\n",
            c->failed ? 1 : 0);
    ci_leaks_release(&cl);
    return ferror(f) ? -1 : 0;
}

/* ---- GitHub Actions ---- */

/* Workflow-command escaping: data escapes % CR LF; properties also : and ,. */
static void gh_puts(FILE *f, const char *s, int property)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '%': fputs("%25", f); break;
        case '\r': fputs("%0D", f); break;
        case '\n': fputs("%0A", f); break;
        case ':': fputs(property ? "%3A" : ":", f); break;
        case ',': fputs(property ? "%2C" : ",", f); break;
        default: putc(*s, f);
        }
    }
}

/* Markdown cell text: pipes and newlines would break the table. */
static void md_puts(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            putc(' ', f);
        else if (*s == '<')
            fputs("&lt;", f);
        else
            putc(*s, f);
    }
}

static void gh_summary(FILE *s, const struct rep_run *run, const struct rep_check *c,
                       const size_t *idx, size_t n, const struct rep_ci_opts *o)
{
    fprintf(s, "### heapgraph check: %s\n\n| Gate | Value | Limit | Result |\n"
            "|---|---|---|---|\n", c->failed ? "FAIL" : "PASS");
    for (size_t i = 0; i < c->nresults; i++) {
        const struct rep_gate_result *r = &c->results[i];
        fprintf(s, "| %s | %s | %s | %s |\n", r->name, r->value, r->limit,
                r->pass ? "PASS" : "**FAIL**");
    }
    if (n)
        fputs("\n| Kind | Bytes | Blocks | Indirect bytes | Allocated in | Location |\n"
              "|---|---:|---:|---:|---|---|\n", s);
    for (size_t i = 0; i < n && i < 50; i++) {
        const struct rep_ck_leak *l = &run->leaks[idx[i]];
        const char *rel = NULL;
        const struct rep_frame *loc = rep_ci_location(&l->stack, o->source_root, &rel);
        fprintf(s, "| %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | `", rep_leak_kind_name(l->kind),
                l->bytes, l->blocks, l->indirect_bytes);
        md_puts(s, top_function(l));
        fputs("` | ", s);
        if (loc) {
            md_puts(s, rel);
            fprintf(s, ":%u", loc->line);
        }
        fputs(" |\n", s);
    }
    if (n > 50)
        fprintf(s, "\n%zu more leak entries not shown.\n", n - 50);
    for (size_t i = 0; i < c->nnotes; i++)
        fprintf(s, "\n> %s\n", c->notes[i]);
    putc('\n', s);
}

int rep_ci_github(FILE *f, FILE *summary, const struct rep_run *run,
                  const struct rep_check *c, const struct rep_ci_opts *o)
{
    struct ci_leaks cl;
    unsigned shown = 0;
    if (ci_leaks_get(&cl, run, c, o) < 0)
        return -1;
    for (size_t i = 0; i < cl.n && shown < GITHUB_ANNOTATIONS; i++) {
        const struct rep_ck_leak *l = &run->leaks[cl.idx[i]];
        const char *rel = NULL;
        char msg[512];
        const struct rep_frame *loc = rep_ci_location(&l->stack, o->source_root, &rel);
        leak_message(msg, sizeof msg, run, l);
        fprintf(f, "::%s ", cl.flag[cl.idx[i]] ? "error" : "warning");
        if (loc) {
            fputs("file=", f);
            gh_puts(f, rel, 1);
            fprintf(f, ",line=%u,", loc->line ? loc->line : 1);
        }
        fputs("title=heapgraph ", f);
        gh_puts(f, rep_leak_kind_name(l->kind), 1);
        fputs("::", f);
        gh_puts(f, msg, 0);
        putc('\n', f);
        shown++;
    }
    for (size_t i = 0; i < c->nresults; i++) {
        const struct rep_gate_result *r = &c->results[i];
        if (r->pass)
            continue;
        fputs("::error title=heapgraph gate::gate ", f);
        gh_puts(f, r->name, 0);
        fputs(" failed: ", f);
        gh_puts(f, r->value, 0);
        fputs(", limit ", f);
        gh_puts(f, r->limit, 0);
        putc('\n', f);
    }
    if (summary)
        gh_summary(summary, run, c, cl.idx, cl.n, o);
    ci_leaks_release(&cl);
    return ferror(f) || (summary && ferror(summary)) ? -1 : 0;
}

/* ---- GitLab code quality ---- */

int rep_ci_gitlab(FILE *f, const struct rep_run *run, const struct rep_check *c,
                  const struct rep_ci_opts *o)
{
    struct ci_leaks cl;
    if (ci_leaks_get(&cl, run, c, o) < 0)
        return -1;
    fputs("[", f);
    for (size_t i = 0; i < cl.n; i++) {
        const struct rep_ck_leak *l = &run->leaks[cl.idx[i]];
        const char *rel = NULL;
        char msg[512];
        const struct rep_frame *loc = rep_ci_location(&l->stack, o->source_root, &rel);
        leak_message(msg, sizeof msg, run, l);
        fprintf(f, "%s\n {\"description\": ", i ? "," : "");
        rep_json_puts(f, msg);
        fprintf(f, ", \"check_name\": \"heapgraph-%s\", \"fingerprint\": \"%016" PRIx64
                "%04zx\", \"severity\": \"%s\", \"location\": {\"path\": ",
                rep_leak_kind_name(l->kind), fingerprint(l), (size_t)l->process & 0xffff,
                cl.flag[cl.idx[i]] ? "major" : "minor");
        rep_json_puts(f, loc ? rel : (l->stack.nframes ? l->stack.frames[0].module : "unknown"));
        fprintf(f, ", \"lines\": {\"begin\": %u}}}", loc && loc->line ? loc->line : 1);
    }
    fputs("\n]\n", f);
    ci_leaks_release(&cl);
    return ferror(f) ? -1 : 0;
}
