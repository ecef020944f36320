/* SPDX-License-Identifier: MIT
 *
 * test_suppress.c - both suppression syntaxes of report/gate/suppress.h: the
 * LeakSanitizer pattern rules (substring, '*', '^', '$' over function, file
 * and module of any frame), valgrind blocks (fun:, obj:, src:, "...",
 * match-leak-kinds, allocator frames heapgraph drops), errors with line
 * numbers, usage counts, the built-in list, and --gen-suppressions output
 * parsing back to a suppression that matches its own stack.
 */
#include "report/gate/suppress.h"
#include "report/model/model.h"

#include <stdlib.h>

#include "tests/unit/harness.h"

static struct rep_run run = REP_RUN_INIT;

/* stack: leaf (lib.c, /usr/lib/libfoo.so.1) <- process_item (app/items.c,
 * /opt/app/bin/app) <- main (app/main.c) */
static struct rep_ck_stack make_stack(void)
{
    struct rep_ck_stack st;
    rep_run_alloc_frames(&run, &st, 3);
    st.frames[0] = (struct rep_frame){"leaf", "/build/foo/lib.c", 12, "/usr/lib/libfoo.so.1", .offset = 0x10};
    st.frames[1] = (struct rep_frame){"process_item", "/src/app/items.c", 88, "/opt/app/bin/app", .offset = 0x20};
    st.frames[2] = (struct rep_frame){"main", "/src/app/main.c", 5, "/opt/app/bin/app", .offset = 0x30};
    return st;
}

static long match_text(const char *text, int kind)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[200];
    struct rep_ck_stack st = make_stack();
    if (rep_supp_parse(&l, text, "t.supp", err, sizeof err) < 0) {
        fprintf(stderr, "parse error: %s\n", err);
        return -2;
    }
    long m = rep_supp_match(&l, st.frames, st.nframes, kind);
    rep_supp_release(&l);
    return m;
}

static void test_lsan_patterns(void)
{
    CHECK_EQ(match_text("leak:process_item\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("leak:process\n", REP_LEAK_DEFINITE), 0);       /* substring */
    CHECK_EQ(match_text("leak:proc*item\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("leak:^process_item$\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("leak:^item\n", REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("leak:process$\n", REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("leak:items.c\n", REP_LEAK_DEFINITE), 0);       /* file */
    CHECK_EQ(match_text("leak:libfoo.so\n", REP_LEAK_DEFINITE), 0);     /* module */
    CHECK_EQ(match_text("leak:^/opt/app/\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("leak:libbar\n", REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("# comment\n\nleak:nothing\nleak:main\n", REP_LEAK_CYCLE), 1);
    /* LeakSanitizer rules apply to every kind, also reachable and not_freed. */
    CHECK_EQ(match_text("leak:leaf", REP_LEAK_REACHABLE), 0);
    CHECK_EQ(match_text("leak:leaf", REP_LEAK_NOT_FREED), 0);
}

static void test_valgrind_blocks(void)
{
    static const char exact[] =
        "{\n   my-leak\n   Memcheck:Leak\n   match-leak-kinds: definite\n"
        "   fun:leaf\n   fun:process_item\n   fun:main\n}\n";
    CHECK_EQ(match_text(exact, REP_LEAK_DEFINITE), 0);
    /* definite covers cycle and not_freed; not possible. */
    CHECK_EQ(match_text(exact, REP_LEAK_CYCLE), 0);
    CHECK_EQ(match_text(exact, REP_LEAK_NOT_FREED), 0);
    CHECK_EQ(match_text(exact, REP_LEAK_POSSIBLE), -1);
    /* Prefix match from the innermost frame. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:leaf\n}\n", REP_LEAK_POSSIBLE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:process_item\n}\n", REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n ...\n fun:process_item\n}\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n obj:/usr/lib/libfoo*\n ...\n fun:main\n}\n",
                        REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:le?f\n fun:*_item\n}\n", REP_LEAK_DEFINITE), 0);
    /* Globs match the whole name. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:lea\n}\n", REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n ...\n fun:nothere\n}\n", REP_LEAK_DEFINITE), -1);
    /* More frame lines than frames. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:leaf\n fun:process_item\n fun:main\n"
                        " fun:*\n}\n", REP_LEAK_DEFINITE), -1);
    /* valgrind's own stacks start at the allocator; heapgraph's do not. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n match-leak-kinds: definite,possible\n"
                        " fun:malloc\n fun:leaf\n}\n", REP_LEAK_POSSIBLE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:_Znwm\n fun:calloc\n fun:leaf\n}\n",
                        REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:malloc\n fun:main\n}\n", REP_LEAK_DEFINITE), -1);
    /* valgrind writes C++ names mangled; heapgraph's frames are demangled. */
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    struct rep_ck_stack st = make_stack();
    char err[200];
    st.frames[0].function = "Cache::insert(int)";
    CHECK_EQ(rep_supp_parse(&l, "{\n x\n Memcheck:Leak\n fun:_Znwm\n fun:_ZN5Cache6insertEi\n"
                                " fun:process_item\n}\n", "t", err, sizeof err), 0);
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_DEFINITE), 0);
    rep_supp_release(&l);
    /* src: basename and line. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n ...\n src:items.c:88\n}\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n ...\n src:items.c:89\n}\n", REP_LEAK_DEFINITE), -1);
    /* Other tools' blocks are skipped, the leak block after them is used. */
    CHECK_EQ(match_text("{\n cond\n Memcheck:Cond\n fun:leaf\n}\n"
                        "{\n helgrind\n Helgrind:Race\n fun:leaf\n}\n"
                        "leak:main\n", REP_LEAK_DEFINITE), 0);
    /* reachable-only block does not hide a definite leak. */
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n match-leak-kinds: reachable\n fun:leaf\n}\n",
                        REP_LEAK_DEFINITE), -1);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n match-leak-kinds: all\n fun:leaf\n}\n",
                        REP_LEAK_REACHABLE), 0);
}

/* Many "..." lines against a long stack that does not match: must not
 * backtrack exponentially (this took minutes with a recursive matcher). */
/* The leading frame lines skipped are the functions symbolizing drops from
 * stacks (report/model/allocators.def), so the two cannot disagree. */
static void test_allocator_lines(void)
{
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:malloc\n fun:getdelim\n fun:leaf\n}\n",
                        REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:__strdup\n fun:leaf\n}\n",
                        REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:std::__new_allocator<int>::allocate(unsigned "
                        "long, void const*)\n fun:leaf\n}\n", REP_LEAK_DEFINITE), 0);
    CHECK_EQ(match_text("{\n x\n Memcheck:Leak\n fun:mallocx\n fun:leaf\n}\n",
                        REP_LEAK_DEFINITE), -1);
    CHECK_EQ(rep_is_allocator("operator new[](unsigned long)"), 1);
    CHECK_EQ(rep_is_allocator("strdup"), 1);
    CHECK_EQ(rep_is_allocator("strdupa"), 0);
    CHECK_EQ(rep_is_allocator("my_malloc"), 0);
}

static void test_many_ellipses(void)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    struct rep_ck_stack st;
    char text[2048] = "{\n x\n Memcheck:Leak\n", err[200];
    for (int i = 0; i < 40; i++)
        strcat(text, " ...\n fun:f*\n");
    strcat(text, " fun:nowhere\n}\n");
    CHECK_EQ(rep_supp_parse(&l, text, "t", err, sizeof err), 0);
    rep_run_alloc_frames(&run, &st, 300);
    for (int i = 0; i < 300; i++)
        st.frames[i] = (struct rep_frame){"f", NULL, 0, "/m", .offset = 0};
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_DEFINITE), -1);
    st.frames[299].function = "nowhere";
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_DEFINITE), 0);
    rep_supp_release(&l);
}

static void parse_error(const char *text, const char *want)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[200] = "";
    CHECK_EQ(rep_supp_parse(&l, text, "bad.supp", err, sizeof err), -1);
    if (!strstr(err, want))
        fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
    CHECK(strstr(err, want) != NULL);
    rep_supp_release(&l);
}

static void test_errors(void)
{
    parse_error("leak:a\nrace:b\n", "bad.supp:2: not a suppression");
    parse_error("leak:\n", "bad.supp:1: empty leak: pattern");
    parse_error("{\n x\n Memcheck:Leak\n fun:a\n", "unterminated");
    parse_error("{\n x\n}\n", "bad.supp:3: block ends before");
    parse_error("{\n x\n Memcheck:Leak\n}\n", "bad.supp:4: block has no");
    parse_error("{\n x\n Memcheck:Leak\n match-leak-kinds: lost\n fun:a\n}\n",
                "bad.supp:4: unknown leak kind");
    parse_error("{\n x\n Memcheck:Leak\n func:a\n}\n", "bad.supp:4: expected fun:");
    parse_error("{\n x\n Leak\n fun:a\n}\n", "bad.supp:3: expected TOOL:KIND");

    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[200];
    CHECK_EQ(rep_supp_load(&l, "/nonexistent/x.supp", err, sizeof err), -1);
    CHECK_STR(err, "/nonexistent/x.supp: No such file or directory");
}

static void test_counts_and_runs(void)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    struct rep_run r = REP_RUN_INIT;
    char err[200];
    CHECK_EQ(rep_supp_parse(&l, "leak:process_item\nleak:never_called\n", "u.supp", err,
                            sizeof err), 0);
    CHECK_EQ(l.n, 2);
    CHECK_STR(l.s[0].origin, "u.supp:1");
    CHECK_STR(l.s[1].name, "leak:never_called");
    rep_run_add_process(&r);
    for (int i = 0; i < 3; i++) {
        struct rep_ck_leak *lk = rep_run_add_leak(&r, 0, REP_LEAK_DEFINITE);
        lk->blocks = 10;
        lk->bytes = 240;
        lk->indirect_blocks = 1;
        lk->indirect_bytes = 16;
        struct rep_ck_stack st = make_stack();
        if (i == 2)
            st.frames[1].function = "other";
        lk->stack = st;
    }
    struct rep_ck_leak *reach = rep_run_add_leak(&r, 0, REP_LEAK_REACHABLE);
    reach->blocks = 1;
    reach->bytes = 8;
    reach->stack = make_stack();
    CHECK_EQ(rep_supp_apply_run(&l, &r, ~(1u << REP_LEAK_REACHABLE)), 2);
    CHECK_EQ(r.leaks[3].suppressed, 0);
    CHECK_EQ(r.leaks[0].suppressed, 1);
    CHECK_EQ(r.leaks[2].suppressed, 0);
    /* Indirect blocks go with their group. */
    CHECK_EQ(l.s[0].matched, 2);
    CHECK_EQ(l.s[0].blocks, 22);
    CHECK_EQ(l.s[0].bytes, 512);
    CHECK_EQ(l.s[1].matched, 0);
    struct rep_run_totals t;
    rep_run_totals(&r, 0, &t);
    CHECK_EQ(t.leaked_bytes, 256);
    CHECK_EQ(t.leaked_blocks, 11);
    rep_supp_release(&l);
    rep_run_release(&r);
}

static void test_builtin(void)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[200];
    struct rep_ck_stack st;
    CHECK_EQ(rep_supp_add_builtin(&l, err, sizeof err), 0);
    CHECK(l.n >= 5);
    CHECK_EQ(l.s[0].builtin, 1);
    CHECK_STR(l.s[0].origin, "built-in");
    rep_run_alloc_frames(&run, &st, 3);
    st.frames[0] = (struct rep_frame){"_IO_file_doallocate", NULL, 0, "/lib/x86_64-linux-gnu/libc.so.6", .offset = 1};
    st.frames[1] = (struct rep_frame){"_IO_doallocbuf", NULL, 0, "/lib/x86_64-linux-gnu/libc.so.6", .offset = 2};
    st.frames[2] = (struct rep_frame){"main", "m.c", 3, "/app", .offset = 3};
    CHECK(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_NOT_FREED) >= 0);
    st.frames[0] = (struct rep_frame){"_dl_new_object", NULL, 0, "/lib64/ld-linux-x86-64.so.2", .offset = 1};
    CHECK(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_DEFINITE) >= 0);
    /* A user's own leak called from main is not hidden. */
    st.frames[0] = (struct rep_frame){"make", "m.c", 1, "/app", .offset = 1};
    st.frames[1] = (struct rep_frame){"setup", "m.c", 2, "/app", .offset = 2};
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_DEFINITE), -1);
    rep_supp_release(&l);
}

static void test_generated_roundtrip(void)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char *text = NULL, err[200];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct rep_ck_stack st = make_stack();
    st.frames[0].function = NULL;
    CHECK_EQ(rep_supp_write(f, st.frames, st.nframes, REP_LEAK_CYCLE, 1), 0);
    fclose(f);
    CHECK_STR(text, "{\n   heapgraph-1-cycle\n   Memcheck:Leak\n   match-leak-kinds: definite\n"
                    "   obj:/usr/lib/libfoo.so.1\n   fun:process_item\n   fun:main\n}\n");
    CHECK_EQ(rep_supp_parse(&l, text, "gen", err, sizeof err), 0);
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_CYCLE), 0);
    st.frames[2].function = "not_main";
    CHECK_EQ(rep_supp_match(&l, st.frames, st.nframes, REP_LEAK_CYCLE), -1);
    free(text);
    rep_supp_release(&l);
}

int main(void)
{
    RUN(test_lsan_patterns);
    RUN(test_valgrind_blocks);
    RUN(test_allocator_lines);
    RUN(test_many_ellipses);
    RUN(test_errors);
    RUN(test_counts_and_runs);
    RUN(test_builtin);
    RUN(test_generated_roundtrip);
    rep_run_release(&run);
    return DONE();
}
