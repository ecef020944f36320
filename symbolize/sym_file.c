/* SPDX-License-Identifier: MIT
 *
 * sym_file.c - opening one module file for the symbolizer. The file's
 * build-id must match the one recorded at run time: a different file at the
 * same path (the program was rebuilt since) gives no names at all, because
 * stale names are worse than none. When the module lacks DWARF or a full
 * .symtab, its separate debug file is looked for by build-id under the debug
 * root, then by .gnu_debuglink in the module's directory, its .debug/
 * subdirectory and <debug root>/<module dir>; a candidate counts only if its
 * build-id (or, without one, the debuglink CRC) matches. Function, data and
 * TLS symbols are sorted once so each lookup is a binary search.
 */
#include "symbolize/sym_int.h"

#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- opening and checking ---------------------------------------------- */

/* Whether the section header table lies inside the file: a truncated file
   (a copy cut short, a disk full while installing) is corrupt, not stripped. */
static int headers_inside(int fd, Elf *elf)
{
    struct stat st;
    GElf_Ehdr eh;
    if (fstat(fd, &st) != 0 || !gelf_getehdr(elf, &eh))
        return 0;
    /* libelf itself reports 0 sections when the table is cut off; only the
       extended numbering (e_shnum 0, count in section 0) needs it. */
    size_t shnum = eh.e_shnum;
    if (shnum == 0 && eh.e_shoff && (elf_getshdrnum(elf, &shnum) != 0 || shnum == 0))
        return 0;
    uint64_t size = (uint64_t)st.st_size, entsize = eh.e_shentsize ? eh.e_shentsize : 1;
    return eh.e_shoff <= size && shnum <= (size - eh.e_shoff) / entsize;
}

/* Opens path as an ELF file. Returns 0, or -1 with errno set (ENOEXEC: not
   an ELF file, EBADMSG: truncated or corrupt). The path comes from the
   capture: a FIFO put there since would block the open or the read, a
   device might never end, so only a regular file is read. */
static int open_elf(const char *path, int *fd, Elf **elf)
{
    struct stat st;
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0)
        return -1;
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(*fd, F_SETFL, 0) < 0) {
        close(*fd);
        *fd = -1;
        errno = ENOEXEC;
        return -1;
    }
    *elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
    int err = !*elf || elf_kind(*elf) != ELF_K_ELF ? ENOEXEC
              : !headers_inside(*fd, *elf)          ? EBADMSG
                                                    : 0;
    if (!err)
        return 0;
    elf_end(*elf);
    close(*fd);
    *fd = -1;
    *elf = NULL;
    errno = err;
    return -1;
}

static void close_elf(int *fd, Elf **elf)
{
    elf_end(*elf);
    *elf = NULL;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int has_build_id(Elf *elf, const void *bid, size_t len)
{
    const void *p;
    ssize_t n = dwelf_elf_gnu_build_id(elf, &p);
    return n > 0 && (size_t)n == len && memcmp(p, bid, len) == 0;
}

/* CRC-32 (the zlib polynomial) of the whole file, as .gnu_debuglink records
   it. Only needed for modules without a build-id. Returns 0 on a read error. */
static int file_crc32(int fd, uint32_t *out)
{
    uint32_t table[256], crc = 0xffffffffu;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    unsigned char buf[65536];
    off_t pos = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, pos);
        if (n < 0)
            return 0;
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
        pos += n;
    }
    *out = crc ^ 0xffffffffu;
    return 1;
}

/* Takes path as f's debug file if it exists, is not the module itself and
   matches: by build-id when the module has one, else by the debuglink CRC. */
static int try_debug(struct sym_file *f, const char *path, const void *bid, size_t bidlen,
                     uint32_t crc)
{
    struct stat a, b;
    int fd;
    Elf *elf;
    if (open_elf(path, &fd, &elf) < 0)
        return 0;
    int same = fstat(fd, &a) == 0 && fstat(f->fd, &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
    uint32_t got;
    int ok = !same && (bidlen ? has_build_id(elf, bid, bidlen)
                              : file_crc32(fd, &got) && got == crc);
    if (!ok) {
        close_elf(&fd, &elf);
        return 0;
    }
    f->dfd = fd;
    f->delf = elf;
    return 1;
}

static void find_debug_file(struct sym_file *f, const char *root)
{
    char path[PATH_MAX];
    const void *bid;
    ssize_t bidlen = dwelf_elf_gnu_build_id(f->elf, &bid);
    if (bidlen < 0)
        bidlen = 0;
    if (bidlen >= 2) {
        const uint8_t *b = bid;
        int n = snprintf(path, sizeof path, "%s/.build-id/%02x/", root, b[0]);
        for (ssize_t i = 1; i < bidlen && n > 0 && (size_t)n < sizeof path; i++)
            n += snprintf(path + n, sizeof path - n, "%02x", b[i]);
        if (n > 0 && (size_t)n + sizeof ".debug" <= sizeof path) {
            memcpy(path + n, ".debug", sizeof ".debug");
            if (try_debug(f, path, bid, bidlen, 0))
                return;
        }
    }
    GElf_Word crc;
    const char *link = dwelf_elf_gnu_debuglink(f->elf, &crc);
    if (!link)
        return;
    const char *slash = strrchr(f->path, '/');
    int dirlen = slash ? (int)(slash - f->path) : 1;
    const char *dir = slash ? f->path : ".";
    for (int i = 0; i < 3; i++) {
        int n;
        if (i == 0)
            n = snprintf(path, sizeof path, "%.*s/%s", dirlen, dir, link);
        else if (i == 1)
            n = snprintf(path, sizeof path, "%.*s/.debug/%s", dirlen, dir, link);
        else if (dir[0] == '/')
            n = snprintf(path, sizeof path, "%s%.*s/%s", root, dirlen, dir, link);
        else
            break;
        if (n > 0 && (size_t)n < sizeof path && try_debug(f, path, bid, bidlen, crc))
            return;
    }
}

/* ---- symbol tables ----------------------------------------------------- */

struct vec {
    struct sym_esym *v;
    size_t n, cap;
};

static int vec_push(struct vec *v, uint64_t lo, uint64_t size, const char *raw, unsigned rank)
{
    if (sym_grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v) < 0)
        return -1;
    v->v[v->n++] = (struct sym_esym){lo, size, raw, NULL, rank};
    return 0;
}

/* Global names beat weak ones beat local ones; then the name with fewer
   leading underscores (malloc over __libc_malloc). */
static unsigned sym_rank(const GElf_Sym *sym, const char *name)
{
    unsigned bind = GELF_ST_BIND(sym->st_info);
    unsigned r = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
    unsigned u = 0;
    while (name[u] == '_' && u < 3)
        u++;
    return r * 4 + u;
}

static int esym_cmp(const void *pa, const void *pb)
{
    const struct sym_esym *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return strcmp(a->raw, b->raw);
}

/* Sorts v and keeps the best-ranked name per address (with the largest
   size any of them claims) as t. */
static void table_finish(struct vec *v, struct sym_table *t)
{
    if (v->n)
        qsort(v->v, v->n, sizeof v->v[0], esym_cmp);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (k && v->v[k - 1].lo == v->v[i].lo) {
            if (v->v[i].size > v->v[k - 1].size)
                v->v[k - 1].size = v->v[i].size;
            continue;
        }
        v->v[k++] = v->v[i];
    }
    t->v = v->v;
    t->n = k;
}

/* Reads the first section of `type` (SHT_SYMTAB or SHT_DYNSYM) of elf into
   f's tables. Returns 1 if there was such a section, else 0. Out of memory
   leaves the tables with what was read. */
static int read_symbols(struct sym_file *f, Elf *elf, Elf64_Word type)
{
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    while ((scn = elf_nextscn(elf, scn)) != NULL)
        if (gelf_getshdr(scn, &sh) && sh.sh_type == type && sh.sh_entsize)
            break;
    if (!scn)
        return 0;
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t n = data ? sh.sh_size / sh.sh_entsize : 0;
    struct vec funcs = {0}, objs = {0}, tls = {0};
    int oom = 0;
    for (size_t i = 0; i < n && !oom; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
            sym.st_shndx == SHN_ABS)
            continue;
        const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (!name || !*name)
            continue;
        unsigned rank = sym_rank(&sym, name);
        switch (GELF_ST_TYPE(sym.st_info)) {
        case STT_FUNC:
        case STT_GNU_IFUNC:
            if (sym.st_value)
                oom = vec_push(&funcs, sym.st_value, sym.st_size, name, rank);
            break;
        case STT_OBJECT:
            if (sym.st_size)
                oom = vec_push(&objs, sym.st_value, sym.st_size, name, rank);
            break;
        case STT_TLS:
            if (sym.st_size)
                oom = vec_push(&tls, sym.st_value, sym.st_size, name, rank);
            break;
        }
    }
    table_finish(&funcs, &f->funcs);
    table_finish(&objs, &f->objs);
    table_finish(&tls, &f->tls);
    return 1;
}

struct sym_esym *sym_table_find(const struct sym_table *t, uint64_t a)
{
    size_t lo = sym_count_upto(t->v, t->n, sizeof *t->v, offsetof(struct sym_esym, lo), a);
    if (lo == 0)
        return NULL;
    struct sym_esym *e = &t->v[lo - 1];
    if (e->size)
        return a - e->lo < e->size ? e : NULL;
    /* A symbol without a size (hand-written assembly) runs to the next one. */
    return lo < t->n ? e : NULL;
}

/* ---- load and release -------------------------------------------------- */

/* DWARF of elf, or NULL when it has none (no compile unit with code). */
static Dwarf *open_dwarf(struct sym_file *f, Elf *elf)
{
    f->dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
    if (f->dw && (sym_dwarf_index(f) < 0 || f->nranges == 0)) {
        sym_dwarf_release(f);
        dwarf_end(f->dw);
        f->dw = NULL;
    }
    return f->dw;
}

void sym_file_load(struct sym_ctx *s, struct sym_file *f, const char *debug_root)
{
    if (f->loaded)
        return;
    f->loaded = 1;
    if (open_elf(f->path, &f->fd, &f->elf) < 0) {
        if (errno == ENOENT)
            sym_warn(s, f, "not found");
        else if (errno == ENOEXEC)
            sym_warn(s, f, "not an ELF file");
        else if (errno == EBADMSG)
            sym_warn(s, f, "truncated or corrupt ELF file");
        else
            sym_warn(s, f, "%s", strerror(errno));
        return;
    }
    if (f->want_bid && !has_build_id(f->elf, f->want_bid, f->want_bid_len)) {
        sym_warn(s, f, "build-id differs from the recorded one");
        close_elf(&f->fd, &f->elf);
        return;
    }
    open_dwarf(f, f->elf);
    f->has_symtab = read_symbols(f, f->elf, SHT_SYMTAB);
    if (!f->dw || !f->has_symtab)
        find_debug_file(f, debug_root);
    if (f->delf && !f->dw)
        open_dwarf(f, f->delf);
    if (f->delf && !f->has_symtab)
        f->has_symtab = read_symbols(f, f->delf, SHT_SYMTAB);
    if (!f->has_symtab)
        read_symbols(f, f->elf, SHT_DYNSYM);
    f->usable = 1;
}

void sym_file_release(struct sym_file *f)
{
    if (f->dw)
        dwarf_end(f->dw);
    f->dw = NULL;
    close_elf(&f->dfd, &f->delf);
    close_elf(&f->fd, &f->elf);
    free(f->funcs.v);
    free(f->objs.v);
    free(f->tls.v);
    sym_dwarf_release(f);
    f->funcs = f->objs = f->tls = (struct sym_table){0};
}
