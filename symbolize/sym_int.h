/* SPDX-License-Identifier: MIT
 *
 * sym_int.h - what the symbolizer's own files share; not an interface for
 * anyone outside symbolize/ (that is sym.h). sym.c owns the ctx (modules,
 * the per-address cache, interned strings, warnings); sym_file.c opens one
 * module file, checks its build-id, finds its separate debug file and sorts
 * its symbol tables; sym_dwarf.c turns an address into inline frames.
 */
#ifndef HG_SYM_INT_H
#define HG_SYM_INT_H

#include "symbolize/sym.h"

#include <elfutils/libdw.h>
#include <gelf.h>

/* uthash exits on out-of-memory unless told otherwise; the symbolizer must
   not. A failed add leaves the element out and sets this flag. */
extern _Thread_local int sym_hash_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (sym_hash_oom = 1)
#include <uthash.h>

/* One symbol of a sorted table. raw points into the ELF string table (valid
   while the file is open); name is its demangled, interned form, filled on
   first use. */
struct sym_esym {
    uint64_t lo, size;
    const char *raw;
    const char *name;
    unsigned rank; /* which of several names at one address wins: lower */
};

struct sym_table {
    struct sym_esym *v; /* sorted by lo, one entry per lo */
    size_t n;
};

/* A function (DW_TAG_subprogram) or inlined call (DW_TAG_inlined_subroutine)
   that has code, in one compile unit. */
struct sym_scope {
    Dwarf_Off die;
    uint32_t parent;  /* the scope it is inlined into; SYM_NO_SCOPE for a function */
    int inlined;
    int named;        /* name below is filled (it may still be NULL) */
    const char *name; /* demangled, interned */
};

#define SYM_NO_SCOPE UINT32_MAX

/* From lo up to the next segment's lo, the innermost scope is `scope`. */
struct sym_seg {
    uint64_t lo;
    uint32_t scope;
};

/* One compile unit; its scope index is built on the first address in it,
   in one walk of its DIE tree, so that each later lookup is a binary
   search instead of another walk (dwarf_getscopes walks the CU per call,
   far too slow for tens of thousands of addresses). */
/* The namespaces and classes around a subprogram DIE of a C++ unit
   ("demo::(anonymous namespace)::"), for functions that DWARF names only
   by their bare DW_AT_name: GCC gives internal-linkage functions (static,
   anonymous namespace) no linkage name. */
struct sym_qual {
    Dwarf_Off die;
    const char *prefix; /* interned */
};

struct sym_cu {
    Dwarf_Off off;
    int indexed;
    struct sym_scope *scopes;
    size_t nscopes;
    struct sym_seg *segs;
    size_t nsegs;
    struct sym_qual *quals; /* sorted by die; C++ units only */
    size_t nquals;
};

/* One address range of a compile unit, for finding the CU by address
   without relying on .debug_aranges (clang does not emit it). */
struct sym_cu_range {
    uint64_t lo, hi;
    uint32_t cu; /* index into sym_file.cu */
};

/* One module file, shared by every module registered with the same path
   and recorded build-id. Loaded on first use; `usable` is 0 when the file
   is missing, unreadable or its build-id differs (then nothing else is set
   and the warning has been issued). */
struct sym_file {
    UT_hash_handle hh;
    char *hkey; /* path, NUL, hex build-id */
    size_t hkeylen;
    const char *path; /* interned */
    uint8_t *want_bid; /* recorded build-id (malloc'd) or NULL */
    size_t want_bid_len;
    int loaded, usable, warned;
    int fd, dfd;      /* the module, its separate debug file (-1: none) */
    Elf *elf, *delf;
    Dwarf *dw;        /* from the module or the debug file; NULL: no DWARF */
    int has_symtab;   /* functions come from a full .symtab, not .dynsym only */
    struct sym_table funcs, objs, tls;
    struct sym_cu *cu;           /* every compile unit with code */
    size_t ncu;
    struct sym_cu_range *ranges; /* their ranges, sorted by lo */
    size_t nranges;
};

/* sym.c: makes room for at least `need` elements of `size` bytes in *buf
   (capacity *cap, doubled as needed). 0, or -1 when out of memory or on
   overflow, *buf untouched. The same helper as the reporter's rep_grow
   (report/model/arena.h): symbolize/ sits below report/ and may not include
   its headers, and a generic array helper does not belong in sym.h, so the
   symbolizer keeps this one copy for all its arrays. */
int sym_grow(void **buf, size_t *cap, size_t need, size_t size);
/* sym.c: how many of the n elements of v (each `size` bytes, sorted by the
   uint64_t at offset `off` in each, an address) have that address at or
   below a: the element before that count is the last one starting at or
   below a. A binary search; every address table of the symbolizer uses it. */
size_t sym_count_upto(const void *v, size_t n, size_t size, size_t off, uint64_t a);
/* sym.c: interned copy of str (owned by the ctx); NULL if str is NULL or
   out of memory. */
const char *sym_intern(struct sym_ctx *s, const char *str);
/* sym.c: demangled (Itanium ABI) and interned name; raw itself, interned,
   when it is not a mangled name. NULL if raw is NULL or out of memory. */
const char *sym_pretty(struct sym_ctx *s, const char *raw);
/* sym.c: issues the file's one warning "<path>: <message>" unless it was
   already warned about. */
void sym_warn(struct sym_ctx *s, struct sym_file *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* sym_file.c: opens f (once; later calls return at once) and sets usable.
   Never fails: problems become f's warning. */
void sym_file_load(struct sym_ctx *s, struct sym_file *f, const char *debug_root);
/* sym_file.c: closes the files and frees the tables; f itself stays. */
void sym_file_release(struct sym_file *f);
/* sym_file.c: the symbol of t covering ELF address a, or NULL. */
struct sym_esym *sym_table_find(const struct sym_table *t, uint64_t a);

/* sym_dwarf.c: builds f->cu and f->ranges from f->dw. Returns 0, -1 if out
   of memory. */
int sym_dwarf_index(struct sym_file *f);
/* sym_dwarf.c: frees f->cu and f->ranges. */
void sym_dwarf_release(struct sym_file *f);
/* sym_dwarf.c: the frames at ELF address a, innermost first, into *out
   (a malloc'd array the caller frees, also on error). A frame's function
   may be NULL when DWARF names none; 0 frames when no CU covers a.
   Returns the count, or (size_t)-1 if out of memory. */
size_t sym_dwarf_frames(struct sym_ctx *s, struct sym_file *f, uint64_t a, struct sym_frame **out);

#endif
