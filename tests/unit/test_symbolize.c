/* SPDX-License-Identifier: MIT
 *
 * test_symbolize.c - unit tests of symbolize/ on real addresses. The test
 * dlopen()s libsymfix.so (tests/unit/sym_fixtures/, built -O2 -g with a fixed
 * build-id) at whatever bias the loader picks, calls its functions, and
 * symbolizes the return addresses they save, against the library itself and
 * against copies of it: stripped, with a .gnu_debuglink, with its debug file
 * under a build-id directory, and rebuilt with another build-id. Expected
 * lines are the fixture's own __LINE__ values. Also: the PIE test executable
 * itself, a missing module, and bad arguments.
 */
#include "symbolize/sym.h"

#include "tests/unit/harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdlib.h>
#include <unistd.h>

static char g_dir[1024];  /* the fixture directory */
static void *g_lib;       /* libsymfix.so, dlopen()ed */
static uint64_t g_bias;   /* libsymfix.so's load bias */
static uint8_t g_bid[64]; /* and its build-id, read from the loaded image */
static size_t g_bidlen;

static struct {
    void (*caller)(void);
    void (*outer)(void);
    void (*labelled)(void);
    int (*call_twice)(int);
    int (*call_anon)(int);
    int (*call_inl_cc)(int);
    void *(*hidden_addr)(void);
    void *(*twice_addr)(void);
    void *(*local_table_addr)(void);
    void *(*counters_addr)(void);
    void **ret;
    unsigned *line_caller, *line_inline, *line_outer, *line_twice, *line_labelled;
    unsigned *line_anon, *line_inl_cc;
    int *g_cache;
} fx;

static const char *base(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p;
}

/* A frame names function at line of file (its last path component). */
static void check_named(const struct sym_frame *f, const char *function, const char *file,
                        unsigned line)
{
    CHECK_STR(f->function, function);
    CHECK_STR(base(f->file), file);
    CHECK_EQ(f->line, line);
}

/* g_dir/name, in one of a few rotating buffers. */
static const char *fixture(const char *name)
{
    static char buf[4][1200];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

/* ---- finding the loaded library ---------------------------------------- */

static void note_build_id(struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const void *)p;
            const char *name = p + sizeof *nh;
            const uint8_t *desc = (const uint8_t *)name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                nh->n_descsz <= sizeof g_bid) {
                memcpy(g_bid, desc, nh->n_descsz);
                g_bidlen = nh->n_descsz;
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int find_fixture(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    const char *b = base(info->dlpi_name);
    if (!b || strcmp(b, "libsymfix.so") != 0)
        return 0;
    g_bias = info->dlpi_addr;
    note_build_id(info);
    return 1;
}

static int find_main(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uint64_t *)arg = info->dlpi_addr;
    return 1; /* the first object is the executable */
}

static void *must_sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

static void *load_fixture(void)
{
    const char *b = getenv("HG_BUILD_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/sym_fixtures", b ? b : ".");
    void *h = dlopen(fixture("libsymfix.so"), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(2);
    }
    g_lib = h;
    *(void **)&fx.caller = must_sym(h, "fx_caller");
    *(void **)&fx.outer = must_sym(h, "fx_outer");
    *(void **)&fx.labelled = must_sym(h, "fx_asm_label");
    *(void **)&fx.call_twice = must_sym(h, "fx_call_twice");
    *(void **)&fx.call_anon = must_sym(h, "fx_call_anon");
    *(void **)&fx.call_inl_cc = must_sym(h, "fx_call_inl_cc");
    *(void **)&fx.hidden_addr = must_sym(h, "fx_hidden_addr");
    *(void **)&fx.twice_addr = must_sym(h, "fx_twice_addr");
    *(void **)&fx.local_table_addr = must_sym(h, "fx_local_table_addr");
    *(void **)&fx.counters_addr = must_sym(h, "fx_counters_addr");
    fx.ret = must_sym(h, "fx_ret");
    fx.line_caller = must_sym(h, "fx_line_caller");
    fx.line_inline = must_sym(h, "fx_line_inline");
    fx.line_outer = must_sym(h, "fx_line_outer");
    fx.line_twice = must_sym(h, "fx_line_twice");
    fx.line_labelled = must_sym(h, "fx_line_labelled");
    fx.line_anon = must_sym(h, "fx_line_anon");
    fx.line_inl_cc = must_sym(h, "fx_line_inl_cc");
    fx.g_cache = must_sym(h, "g_cache");
    dl_iterate_phdr(find_fixture, NULL);
    return h;
}

/* A ctx with fixture file `name` registered as key 1 at libsymfix.so's bias,
   with its recorded build-id if with_bid. */
static struct sym_ctx *ctx_for(const char *name, int with_bid)
{
    char err[256] = "";
    struct sym_ctx *s = sym_open(err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        exit(2);
    CHECK_EQ(sym_add_module(s, 1, fixture(name), g_bias, with_bid ? g_bid : NULL,
                            with_bid ? g_bidlen : 0, err, sizeof err), 0);
    return s;
}

static uint64_t ret_of_caller(void)
{
    fx.caller();
    return (uint64_t)(uintptr_t)*fx.ret;
}

static uint64_t ret_of_outer(void)
{
    fx.outer();
    return (uint64_t)(uintptr_t)*fx.ret;
}

static uint64_t ret_of_twice(void)
{
    CHECK_EQ(fx.call_twice(21), 42);
    return (uint64_t)(uintptr_t)*fx.ret;
}

/* ---- tests ------------------------------------------------------------- */

static void test_fixture_loaded_at_a_bias(void)
{
    CHECK(g_bias != 0);
    CHECK_EQ(g_bidlen, 20);
    CHECK_EQ(g_bid[0], 0x51);
    CHECK_EQ(g_bid[19], 0x01);
}

static void test_return_address_gives_call_line(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_caller();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    check_named(&f[0], "fx_caller", "fix_c.c", *fx.line_caller);
    CHECK_STR(f[0].module, fixture("libsymfix.so"));
    CHECK_EQ(f[0].offset, ret - g_bias);
    CHECK_EQ(f[0].inlined, 0);
    CHECK_EQ(sym_warning_count(s), 0);
    sym_close(s);
}

static void test_inline_chain_gives_two_frames(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_outer();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 2);
    check_named(&f[0], "fx_inl", "fix_c.c", *fx.line_inline);
    CHECK_EQ(f[0].inlined, 1);
    CHECK_EQ(f[0].offset, ret - g_bias);
    check_named(&f[1], "fx_outer", "fix_c.c", *fx.line_outer);
    CHECK_EQ(f[1].inlined, 0);
    CHECK_EQ(f[1].offset, ret - g_bias);
    /* Room for one frame: the innermost. */
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 1), 1);
    CHECK_STR(f[0].function, "fx_inl");
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 0), 0);
    sym_close(s);
}

/* A C function with an assembler label is named by its C name. */
static void test_asm_label_gives_c_name(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    struct sym_frame f[8] = {{0}};
    fx.labelled();
    uint64_t ret = (uint64_t)(uintptr_t)*fx.ret;
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    CHECK_STR(f[0].function, "fx_labelled");
    CHECK_EQ(f[0].line, *fx.line_labelled);
    sym_close(s);
}

static void test_cxx_template_demangled(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_twice();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    check_named(&f[0], "int fixture::twice<int>(int)", "fix_cc.cc", *fx.line_twice);
    uint64_t entry = (uint64_t)(uintptr_t)fx.twice_addr();
    CHECK_EQ(sym_resolve(s, 1, entry, 0, f, 8), 1);
    CHECK_STR(f[0].function, "int fixture::twice<int>(int)");
    uint64_t start = 0, c2 = (uint64_t)(uintptr_t)fx.counters_addr();
    CHECK_STR(sym_data_symbol(s, 1, c2, &start), "fixture::counters");
    CHECK_EQ(start, c2 - 2 * sizeof(long));
    sym_close(s);
}

/* Internal-linkage C++ functions have no linkage name in GCC's DWARF; their
   namespaces come from the DIE tree. */
static void test_cxx_internal_linkage_qualified(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    struct sym_frame f[8] = {{0}};
    CHECK_EQ(fx.call_anon(4), 10);
    uint64_t ret = (uint64_t)(uintptr_t)*fx.ret;
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    const int *mangled = must_sym(g_lib, "fx_internal_linkage_names");
    CHECK_STR(f[0].function, *mangled ? "fixture::(anonymous namespace)::anon_step(int)"
                                      : "fixture::(anonymous namespace)::anon_step");
    CHECK_EQ(f[0].line, *fx.line_anon);
    CHECK_EQ(fx.call_inl_cc(4), 18);
    ret = (uint64_t)(uintptr_t)*fx.ret;
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 2);
    check_named(&f[0], *mangled ? "fixture::inl_step(int)" : "fixture::inl_step", "fix_cc.cc",
                *fx.line_inl_cc);
    CHECK_EQ(f[0].inlined, 1);
    CHECK_STR(f[1].function, "fx_call_inl_cc");
    CHECK_EQ(f[1].inlined, 0);
    sym_close(s);
}

static void test_data_symbols(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    uint64_t start = 0, a = (uint64_t)(uintptr_t)&fx.g_cache[3];
    CHECK_STR(sym_data_symbol(s, 1, a, &start), "g_cache");
    CHECK_EQ(start, (uint64_t)(uintptr_t)fx.g_cache);
    a = (uint64_t)(uintptr_t)&fx.g_cache[15] + 3;
    CHECK_STR(sym_data_symbol(s, 1, a, NULL), "g_cache");
    a = (uint64_t)(uintptr_t)fx.local_table_addr();
    CHECK_STR(sym_data_symbol(s, 1, a, &start), "fx_local_table");
    CHECK_EQ(start, a - 5);
    /* Code is not data. */
    CHECK(sym_data_symbol(s, 1, (uint64_t)(uintptr_t)fx.hidden_addr(), &start) == NULL);
    CHECK(sym_data_symbol(s, 7, a, &start) == NULL);
    sym_close(s);
}

static int find_tls_block(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const char *b = base(info->dlpi_name);
    if (!b || strcmp(b, "libsymfix.so") != 0)
        return 0;
    *(void **)arg = info->dlpi_tls_data;
    return 1;
}

/* A thread-local is named by its offset in the module's TLS block. */
static void test_tls_symbol(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    void *(*tls_addr)(void);
    *(void **)&tls_addr = must_sym(g_lib, "fx_tls_addr");
    char *var = tls_addr(), *block = NULL;
    dl_iterate_phdr(find_tls_block, &block);
    CHECK(block != NULL && var >= block);
    if (!block)
        return;
    uint64_t off = (uint64_t)(var - block), start = 0;
    CHECK_STR(sym_tls_symbol(s, 1, off, &start), "fx_tls_counter");
    CHECK_EQ(start, off - 2 * sizeof(long));
    CHECK_STR(sym_tls_symbol(s, 1, off + 2 * sizeof(long) - 1, NULL), "fx_tls_counter");
    CHECK(sym_tls_symbol(s, 1, off + 2 * sizeof(long), NULL) == NULL);
    CHECK(sym_tls_symbol(s, 2, off, NULL) == NULL);
    sym_close(s);
}

static void test_stripped_copy_degrades_with_one_warning(void)
{
    struct sym_ctx *s = ctx_for("libsymfix_stripped.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t hidden = (uint64_t)(uintptr_t)fx.hidden_addr();
    CHECK_EQ(sym_resolve(s, 1, hidden, 0, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK(f[0].file == NULL);
    CHECK_EQ(f[0].line, 0);
    CHECK_EQ(f[0].offset, hidden - g_bias);
    CHECK_STR(f[0].module, fixture("libsymfix_stripped.so"));
    CHECK_EQ(sym_resolve(s, 1, hidden + 1, 0, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK_EQ(f[0].offset, hidden + 1 - g_bias);
    /* Exported functions keep their .dynsym names, demangled, without lines. */
    CHECK_EQ(sym_resolve(s, 1, ret_of_caller(), 1, f, 8), 1);
    CHECK_STR(f[0].function, "fx_caller");
    CHECK(f[0].file == NULL);
    CHECK_EQ(sym_resolve(s, 1, ret_of_twice(), 1, f, 8), 1);
    CHECK_STR(f[0].function, "int fixture::twice<int>(int)");
    CHECK_STR(sym_data_symbol(s, 1, (uint64_t)(uintptr_t)&fx.g_cache[1], NULL), "g_cache");
    CHECK(sym_data_symbol(s, 1, (uint64_t)(uintptr_t)fx.local_table_addr(), NULL) == NULL);
    CHECK_EQ(sym_warning_count(s), 1);
    char want[1300];
    snprintf(want, sizeof want, "%s: no symbols and no debug info (stripped)",
             fixture("libsymfix_stripped.so"));
    CHECK_STR(sym_warning(s, 0), want);
    CHECK(sym_warning(s, 1) == NULL);
    sym_close(s);
}

static void test_other_build_id_gives_no_names(void)
{
    struct sym_ctx *s = ctx_for("libsymfix_other.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_outer();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK(f[0].file == NULL);
    CHECK_EQ(f[0].offset, ret - g_bias);
    CHECK_EQ(sym_resolve(s, 1, ret_of_caller(), 1, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK(sym_data_symbol(s, 1, (uint64_t)(uintptr_t)fx.g_cache, NULL) == NULL);
    CHECK_EQ(sym_warning_count(s), 1);
    char want[1300];
    snprintf(want, sizeof want, "%s: build-id differs from the recorded one",
             fixture("libsymfix_other.so"));
    CHECK_STR(sym_warning(s, 0), want);
    sym_close(s);

    /* The same file with no recorded build-id is trusted: the names above
       were withheld because of the mismatch, not for lack of symbols. */
    s = ctx_for("libsymfix_other.so", 0);
    CHECK_EQ(sym_resolve(s, 1, ret_of_caller(), 1, f, 8), 1);
    CHECK_STR(f[0].function, "fx_caller");
    CHECK_EQ(sym_warning_count(s), 0);
    sym_close(s);
}

/* The full answer, as from the unstripped library; for the copies that
   find their debug information elsewhere. */
static void check_full_names(struct sym_ctx *s)
{
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_outer();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 2);
    CHECK_STR(f[0].function, "fx_inl");
    CHECK_EQ(f[0].line, *fx.line_inline);
    check_named(&f[1], "fx_outer", "fix_c.c", *fx.line_outer);
    CHECK_EQ(sym_resolve(s, 1, (uint64_t)(uintptr_t)fx.hidden_addr(), 0, f, 8), 1);
    CHECK_STR(f[0].function, "fx_hidden");
    CHECK_STR(sym_data_symbol(s, 1, (uint64_t)(uintptr_t)fx.local_table_addr(), NULL),
              "fx_local_table");
    CHECK_EQ(sym_warning_count(s), 0);
}

static void test_debuglink_finds_debug_file(void)
{
    struct sym_ctx *s = ctx_for("libsymfix_dl.so", 1);
    check_full_names(s);
    sym_close(s);
    /* --strip-debug keeps .symtab: the debug file is still needed for lines. */
    s = ctx_for("libsymfix_sd.so", 1);
    check_full_names(s);
    sym_close(s);
}

static void test_build_id_dir_finds_debug_file(void)
{
    struct sym_ctx *s = ctx_for("libsymfix_stripped.so", 1);
    char err[256] = "";
    CHECK_EQ(sym_set_debug_root(s, fixture("debugroot"), err, sizeof err), 0);
    check_full_names(s);
    sym_close(s);
}

/* Without a build-id, a debuglink file counts only if its CRC matches. */
static void test_debuglink_crc_without_build_id(void)
{
    void *h = dlopen(fixture("libsymfix_nobid.so"), RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (!h)
        return;
    void (*caller)(void);
    void *(*hidden_addr)(void);
    *(void **)&caller = must_sym(h, "fx_caller");
    *(void **)&hidden_addr = must_sym(h, "fx_hidden_addr");
    void **ret = must_sym(h, "fx_ret");
    unsigned *line = must_sym(h, "fx_line_caller");
    Dl_info info;
    struct link_map *lm = NULL;
    CHECK(dladdr1((void *)hidden_addr, &info, (void **)&lm, RTLD_DL_LINKMAP) != 0 && lm);
    uint64_t bias = lm ? lm->l_addr : 0;
    CHECK(bias != 0 && bias != g_bias);
    caller();
    uint64_t r = (uint64_t)(uintptr_t)*ret, hidden = (uint64_t)(uintptr_t)hidden_addr();
    char err[256] = "", want[1300];
    struct sym_frame f[8] = {{0}};

    struct sym_ctx *s = sym_open(err, sizeof err);
    CHECK_EQ(sym_add_module(s, 1, fixture("libsymfix_nobid_dl.so"), bias, NULL, 0, err,
                            sizeof err), 0);
    CHECK_EQ(sym_resolve(s, 1, r, 1, f, 8), 1);
    check_named(&f[0], "fx_caller", "fix_c.c", *line);
    CHECK_EQ(sym_resolve(s, 1, hidden, 0, f, 8), 1);
    CHECK_STR(f[0].function, "fx_hidden");
    CHECK_EQ(sym_warning_count(s), 0);
    sym_close(s);

    s = sym_open(err, sizeof err);
    CHECK_EQ(sym_add_module(s, 1, fixture("libsymfix_stale_dl.so"), bias, NULL, 0, err,
                            sizeof err), 0);
    CHECK_EQ(sym_resolve(s, 1, hidden, 0, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK_EQ(f[0].offset, hidden - bias);
    CHECK_EQ(sym_resolve(s, 1, r, 1, f, 8), 1);
    CHECK_STR(f[0].function, "fx_caller");
    CHECK(f[0].file == NULL);
    CHECK_EQ(sym_warning_count(s), 1);
    snprintf(want, sizeof want, "%s: no symbols and no debug info (stripped)",
             fixture("libsymfix_stale_dl.so"));
    CHECK_STR(sym_warning(s, 0), want);
    sym_close(s);
    dlclose(h);
}

static void test_missing_module(void)
{
    struct sym_ctx *s = ctx_for("no-such-library.so", 1);
    struct sym_frame f[8] = {{0}};
    uint64_t ret = ret_of_caller();
    CHECK_EQ(sym_resolve(s, 1, ret, 1, f, 8), 1);
    CHECK(f[0].function == NULL);
    CHECK_EQ(f[0].offset, ret - g_bias);
    CHECK_STR(f[0].module, fixture("no-such-library.so"));
    CHECK_EQ(sym_resolve(s, 1, ret + 4, 1, f, 8), 1);
    CHECK_EQ(sym_warning_count(s), 1);
    char want[1300];
    snprintf(want, sizeof want, "%s: not found", fixture("no-such-library.so"));
    CHECK_STR(sym_warning(s, 0), want);
    /* An unregistered key: no module, the address itself as offset. */
    CHECK_EQ(sym_resolve(s, 9, 0x1234, 0, f, 8), 1);
    CHECK_STR(f[0].module, "?");
    CHECK_EQ(f[0].offset, 0x1234);
    CHECK(f[0].function == NULL);
    CHECK_EQ(sym_warning_count(s), 1);
    sym_close(s);
}

/* Reads fixture `name` into a malloc'd buffer; *len gets its size. */
static unsigned char *slurp(const char *name, size_t *len)
{
    FILE *fp = fopen(fixture(name), "rb");
    unsigned char *buf = NULL;
    long n = -1;
    if (fp && fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (fp)
        fclose(fp);
    *len = buf ? (size_t)n : 0;
    return buf;
}

static void spill(const char *name, const unsigned char *buf, size_t len)
{
    FILE *fp = fopen(fixture(name), "wb");
    CHECK(fp != NULL);
    if (fp) {
        CHECK_EQ(fwrite(buf, 1, len, fp), len);
        fclose(fp);
    }
}

/* File offset and size of section `want` of fixture `name`. */
static int section_of(const char *name, const char *want, size_t *off, size_t *size)
{
    int fd = open(fixture(name), O_RDONLY);
    Elf *e = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    size_t shstr;
    Elf_Scn *scn = NULL;
    int found = 0;
    if (e && elf_getshdrstrndx(e, &shstr) == 0) {
        GElf_Shdr sh;
        while (!found && (scn = elf_nextscn(e, scn)) != NULL) {
            const char *n = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstr, sh.sh_name) : NULL;
            found = n && strcmp(n, want) == 0;
        }
        if (found) {
            *off = sh.sh_offset;
            *size = sh.sh_size;
        }
    }
    elf_end(e);
    if (fd >= 0)
        close(fd);
    return found;
}

/* Truncated and scribbled copies: frames and one warning each, no crash. */
static void test_corrupt_files(void)
{
    size_t len, off, size;
    unsigned char *img = slurp("libsymfix.so", &len);
    CHECK(img != NULL && len > 8192);
    if (!img)
        return;
    uint64_t ret = ret_of_caller();
    char err[256] = "";
    struct sym_frame f[8] = {{0}};
    const size_t cuts[] = {16, 64, 1000, 4096, len / 2, len - 100};
    const size_t ncuts = sizeof cuts / sizeof cuts[0];
    struct sym_ctx *s = sym_open(err, sizeof err);
    for (size_t i = 0; i < ncuts; i++) {
        char name[64];
        snprintf(name, sizeof name, "truncated-%zu.so", i);
        spill(name, img, cuts[i]);
        CHECK_EQ(sym_add_module(s, (uint32_t)i, fixture(name), g_bias, NULL, 0, err, sizeof err),
                 0);
        CHECK_EQ(sym_resolve(s, (uint32_t)i, ret, 1, f, 8), 1);
        CHECK(f[0].function == NULL);
        CHECK_EQ(f[0].offset, ret - g_bias);
        CHECK(sym_data_symbol(s, (uint32_t)i, (uint64_t)(uintptr_t)fx.g_cache, NULL) == NULL);
        unlink(fixture(name));
    }
    CHECK_EQ(sym_warning_count(s), ncuts);
    char want[1300];
    snprintf(want, sizeof want, "%s: not an ELF file", fixture("truncated-0.so"));
    CHECK_STR(sym_warning(s, 0), want);
    for (size_t i = 1; i < ncuts; i++) {
        char name[64];
        snprintf(name, sizeof name, "truncated-%zu.so", i);
        snprintf(want, sizeof want, "%s: truncated or corrupt ELF file", fixture(name));
        CHECK_STR(sym_warning(s, i), want);
    }
    sym_close(s);

    /* .debug_info and .debug_line overwritten with noise: the symbol table
       still names the function. */
    uint32_t x = 12345;
    CHECK(section_of("libsymfix.so", ".debug_info", &off, &size) && off + size <= len);
    for (size_t i = off; i < off + size && i < len; i++)
        img[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    CHECK(section_of("libsymfix.so", ".debug_line", &off, &size) && off + size <= len);
    for (size_t i = off; i < off + size && i < len; i++)
        img[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    spill("scribbled.so", img, len);
    s = sym_open(err, sizeof err);
    CHECK_EQ(sym_add_module(s, 1, fixture("scribbled.so"), g_bias, NULL, 0, err, sizeof err), 0);
    CHECK(sym_resolve(s, 1, ret_of_outer(), 1, f, 8) >= 1);
    CHECK_EQ(sym_resolve(s, 1, ret_of_caller(), 1, f, 8), 1);
    CHECK_STR(f[0].function, "fx_caller");
    sym_close(s);
    unlink(fixture("scribbled.so"));
    free(img);
}

/* How many of this process's file descriptors are open on `path`. */
static int open_fds(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL) {
        char link[300], target[1200];
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = 0;
            n += strcmp(target, path) == 0;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Two keys (two processes) on one file: opened on first use, once, closed
   by sym_close; one warning. */
static void test_shared_file_opened_once(void)
{
    const char *path = fixture("libsymfix_stripped.so");
    struct sym_ctx *s = ctx_for("libsymfix_stripped.so", 1);
    char err[256] = "";
    struct sym_frame f[8] = {{0}};
    CHECK_EQ(sym_add_module(s, 2, path, g_bias + 0x10000, g_bid, g_bidlen, err, sizeof err), 0);
    CHECK_EQ(open_fds(path), 0);
    uint64_t hidden = (uint64_t)(uintptr_t)fx.hidden_addr();
    CHECK_EQ(sym_resolve(s, 1, hidden, 0, f, 8), 1);
    CHECK_EQ(open_fds(path), 1);
    CHECK_EQ(sym_resolve(s, 2, hidden + 0x10000, 0, f, 8), 1);
    CHECK_EQ(open_fds(path), 1);
    CHECK(f[0].function == NULL);
    CHECK_EQ(f[0].offset, hidden - g_bias);
    CHECK_EQ(sym_warning_count(s), 1);
    sym_close(s);
    CHECK_EQ(open_fds(path), 0);
}

static __attribute__((noinline)) int pie_marker(int x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

static void test_pie_executable(void)
{
    char exe[1024], err[256] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    if (n <= 0)
        return;
    exe[n] = 0;
    uint64_t bias = 0;
    dl_iterate_phdr(find_main, &bias);
    CHECK(bias != 0); /* Debian builds PIE by default */
    struct sym_ctx *s = sym_open(err, sizeof err);
    CHECK_EQ(sym_add_module(s, 5, exe, bias, NULL, 0, err, sizeof err), 0);
    struct sym_frame f[8] = {{0}};
    uint64_t a = (uint64_t)(uintptr_t)pie_marker + 2;
    CHECK_EQ(pie_marker(1), 2);
    CHECK_EQ(sym_resolve(s, 5, a, 0, f, 8), 1);
    CHECK_STR(f[0].function, "pie_marker");
    CHECK_EQ(f[0].offset, a - bias);
    sym_close(s);
}

static void test_cache_and_bad_arguments(void)
{
    struct sym_ctx *s = ctx_for("libsymfix.so", 1);
    char err[256] = "";
    struct sym_frame a[8] = {{0}}, b[8] = {{0}};
    uint64_t ret = ret_of_outer();
    CHECK_EQ(sym_resolved_count(s), 0);
    CHECK_EQ(sym_resolve(s, 1, ret, 1, a, 8), 2);
    CHECK_EQ(sym_resolve(s, 1, ret, 1, b, 8), 2);
    CHECK_EQ(sym_resolve(s, 1, ret, 1, b, 1), 1);
    CHECK(a[0].function == b[0].function && a[1].file == b[1].file);
    CHECK_EQ(sym_resolved_count(s), 1);
    /* The same bytes as a non-return address are cached apart. */
    CHECK_EQ(sym_resolve(s, 1, ret, 0, b, 8) >= 1, 1);
    CHECK_EQ(b[0].offset, a[0].offset);
    CHECK_EQ(sym_resolved_count(s), 2);
    CHECK_EQ(sym_resolve(s, 1, ret_of_caller(), 1, b, 8), 1);
    CHECK_EQ(sym_resolved_count(s), 3);
    CHECK_EQ(sym_add_module(s, 1, fixture("libsymfix.so"), 0, NULL, 0, err, sizeof err), -1);
    CHECK_STR(err, "sym_add_module: key 1 already registered");
    CHECK_EQ(sym_add_module(s, 3, NULL, 0, NULL, 0, err, sizeof err), -1);
    CHECK_EQ(sym_add_module(NULL, 3, "x", 0, NULL, 0, NULL, 0), -1);
    CHECK_EQ(sym_set_debug_root(s, NULL, err, sizeof err), -1);
    CHECK_EQ(sym_warning_count(NULL), 0);
    sym_close(s);
    sym_close(NULL);
}

int main(void)
{
    elf_version(EV_CURRENT);
    void *h = load_fixture();
    RUN(test_fixture_loaded_at_a_bias);
    RUN(test_return_address_gives_call_line);
    RUN(test_inline_chain_gives_two_frames);
    RUN(test_asm_label_gives_c_name);
    RUN(test_cxx_template_demangled);
    RUN(test_cxx_internal_linkage_qualified);
    RUN(test_data_symbols);
    RUN(test_tls_symbol);
    RUN(test_stripped_copy_degrades_with_one_warning);
    RUN(test_other_build_id_gives_no_names);
    RUN(test_debuglink_finds_debug_file);
    RUN(test_build_id_dir_finds_debug_file);
    RUN(test_debuglink_crc_without_build_id);
    RUN(test_missing_module);
    RUN(test_shared_file_opened_once);
    RUN(test_corrupt_files);
    RUN(test_pie_executable);
    RUN(test_cache_and_bad_arguments);
    dlclose(h);
    return DONE();
}
