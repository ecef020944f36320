/* SPDX-License-Identifier: MIT
 *
 * supp.c - suppression options of `heapgraph report` (see supp.h): load the
 * lists, filter the capture's leak entries through report/gate/suppress.h, and
 * --gen-suppressions, which prints a block per leak entry that, saved to a
 * file and passed back with --suppressions, hides exactly that entry.
 */
#include "cmd/supp.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/conf.h"
#include "report/model/model.h"
#include "report/gate/suppress.h"

int cmd_supp_option(struct cmd_supp_opts *s, int opt, const char *arg)
{
    switch (opt) {
    case CMD_SUPP_OPT_FILE:
        if (s->nfiles == (int)(sizeof s->files / sizeof s->files[0]))
            return cmd_error(HG_EXIT_USAGE, "too many --suppressions files");
        s->files[s->nfiles++] = arg;
        return 0;
    case CMD_SUPP_OPT_NO_DEFAULT: s->no_default = 1; return 0;
    case CMD_SUPP_OPT_GEN: s->gen = 1; return 0;
    default: return cmd_error(HG_EXIT_USAGE, "internal: bad suppression option %d", opt);
    }
}

/* The [report] section of .heapgraph.conf: suppression files and the
 * built-in switch. *no_default is set when the file says so. */
static int load_conf(struct rep_supp_list *l, int *no_default)
{
    struct cmd_conf c = CMD_CONF_INIT;
    char err[300], *path = cmd_conf_find();
    int ret = 0;
    if (!path)
        return 0;
    if (cmd_conf_load(&c, path, err, sizeof err) < 0)
        ret = cmd_error(HG_EXIT_USAGE, "%s", err);
    for (size_t i = 0; i < c.n && !ret; i++) {
        const struct cmd_conf_entry *e = &c.e[i];
        if (strcmp(e->section, "report"))
            continue;
        if (!strcmp(e->key, "no-default-suppressions") && !strcmp(e->value, "true")) {
            *no_default = 1;
        } else if (!strcmp(e->key, "suppressions")) {
            char *file = cmd_conf_path(&c, e->value);
            if (!file || rep_supp_load(l, file, err, sizeof err) < 0)
                ret = cmd_error(HG_EXIT_USAGE, "%s:%u: %s", path, e->line,
                                file ? err : "out of memory");
            free(file);
        } else if (strcmp(e->key, "no-default-suppressions")) {
            ret = cmd_error(HG_EXIT_USAGE, "%s:%u: unknown key '%s' in [report]", path, e->line,
                            e->key);
        }
    }
    cmd_conf_release(&c);
    free(path);
    return ret;
}

static int gen(const struct rep_capture *cap, FILE *out)
{
    unsigned serial = 0;
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_process *p = &cap->processes[i];
        for (size_t k = 0; k < p->nleaks; k++) {
            const struct rep_leak *lk = &p->leaks[k];
            const struct rep_stack *st = lk->site < p->nstacks ? p->sites[lk->site].stack : NULL;
            if (lk->kind == REP_LEAK_REACHABLE || !st)
                continue;
            if (rep_supp_write(out, st->frames, st->nframes, lk->kind, ++serial) < 0)
                return cmd_error(HG_EXIT_SOFTWARE, "writing suppressions failed");
        }
    }
    return 0;
}

int cmd_supp_apply(const struct cmd_supp_opts *s, struct rep_capture *cap, FILE *out,
                   int *done)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[300];
    int no_default = s->no_default, ret;
    *done = 0;
    if ((ret = load_conf(&l, &no_default)))
        goto out;
    for (int i = 0; i < s->nfiles; i++)
        if (rep_supp_load(&l, s->files[i], err, sizeof err) < 0) {
            ret = cmd_error(HG_EXIT_USAGE, "%s", err);
            goto out;
        }
    if (!no_default && rep_supp_add_builtin(&l, err, sizeof err) < 0) {
        ret = cmd_error(HG_EXIT_SOFTWARE, "built-in suppressions: %s", err);
        goto out;
    }
    if (rep_supp_filter_capture(&l, cap, err, sizeof err) < 0) {
        ret = cmd_error(HG_EXIT_SOFTWARE, "%s", err);
        goto out;
    }
    if (s->gen) {
        *done = 1;
        ret = gen(cap, out);
    }
out:
    rep_supp_release(&l);
    return ret;
}
