/* SPDX-License-Identifier: MIT
 *
 * sym.h - the symbolizer: turns a runtime address inside a recorded module
 * (path, load bias, build-id from the capture's module map) into function,
 * source file, line and inline frames, offline, after the program is gone.
 *
 * Function names come from the ELF symbol table (.symtab, else .dynsym, of
 * the module or of its separate debug file); file, line and inline frames
 * from DWARF. Separate debug files are found by build-id
 * (<debug root>/.build-id/xx/rest.debug) and by .gnu_debuglink (the module's
 * directory, its .debug/ subdirectory, <debug root>/<module dir>); the debug
 * root is /usr/lib/debug unless sym_set_debug_root() says otherwise. C++ and
 * other Itanium-ABI names are demangled.
 *
 * Nothing here fails on bad debug data: a module that is missing, stripped or
 * whose build-id differs from the recorded one degrades to module+0xoffset
 * and leaves exactly one warning for that module. A file whose build-id
 * differs is never used for names: stale names are worse than none. A module
 * with function names but no DWARF (most system libraries) gives names
 * without file:line and no warning; it warns only once some address gets no
 * name at all.
 *
 * Ownership: every string handed out (frames, data symbol names, warnings)
 * belongs to the ctx and stays valid until sym_close(). Files are opened
 * lazily, once per (path, build-id), on the first address that needs them.
 * A ctx is not thread-safe. The module never prints and never exits.
 */
#ifndef HG_SYM_H
#define HG_SYM_H

#include <stddef.h>
#include <stdint.h>

struct sym_ctx; /* opaque */

struct sym_frame {
    const char *function; /* demangled; NULL when unknown */
    const char *file;     /* source path as DWARF names it; NULL when unknown */
    unsigned line;        /* 0 when unknown */
    const char *module;   /* path of the module, never NULL ("?" if none) */
    uint64_t offset;      /* address - module bias (for "module+0xoffset") */
    int inlined;          /* 1 for an inline frame (all but the outermost of one address) */
};

/* A new, empty ctx. NULL + err on failure (out of memory). Free with sym_close(). */
struct sym_ctx *sym_open(char *err, size_t errlen);

/* Closes every file and frees every string handed out. NULL is accepted. */
void sym_close(struct sym_ctx *s);

/* Registers a module under a caller-chosen key (unique per ctx). Does not
   open the file yet. bias is the load bias (dlpi_addr): runtime address =
   bias + ELF address. build_id (the one recorded at run time) may be NULL;
   when given, a file whose build-id differs is not used. path and build_id
   are copied. Returns 0, or -1 + err (bad arguments only: NULL ctx or path,
   a key already registered, out of memory). */
int sym_add_module(struct sym_ctx *s, uint32_t key, const char *path, uint64_t bias,
                   const uint8_t *build_id, size_t build_id_len, char *err, size_t errlen);

/* Resolves addr (a runtime address inside module `key`; pass
   is_return_address=1 for return addresses so that addr-1 is looked up) into
   up to `max` frames, innermost inline frame first, outermost (the real
   function) last; each frame's file:line is where that frame was executing
   (for an outer frame of an inline chain: the call site of the inlined
   function). Returns the count (>= 1 when max >= 1; 0 when max is 0). If the
   chain is longer than max, the innermost frames are kept and the last one
   returned is not the outermost.
   Never fails: a missing/stripped/mismatched module, or an unknown key (then
   module is "?"), gives function=NULL, file=NULL and the module+offset.
   offset is always addr - bias of the address passed in (not addr-1).
   Results are cached per (module, address). Strings valid until sym_close. */
size_t sym_resolve(struct sym_ctx *s, uint32_t key, uint64_t addr, int is_return_address,
                   struct sym_frame *out, size_t max);

/* Name of the data object (global/static variable: an STT_OBJECT symbol of
   the symbol table whose [value, value+size) contains addr - bias) in module
   `key`; *start (if start is not NULL) gets its runtime address. C++ names
   are demangled. NULL if none, or if the module cannot be used. Valid until
   sym_close. */
const char *sym_data_symbol(struct sym_ctx *s, uint32_t key, uint64_t addr, uint64_t *start);

/* Name of the thread-local variable (an STT_TLS symbol) that covers byte
   `tls_offset` of module `key`'s TLS block (offset from the start of the
   module's PT_TLS image, as the dynamic linker lays it out per thread);
   *start (if not NULL) gets the variable's offset in that block. NULL if
   none. Valid until sym_close. */
const char *sym_tls_symbol(struct sym_ctx *s, uint32_t key, uint64_t tls_offset, uint64_t *start);

/* One warning per module that degraded (per file: keys sharing a path and
   recorded build-id share it), in the order they happened, e.g.
   "/lib/libfoo.so: not found", "/bin/app: build-id differs from the recorded
   one", "/bin/app: no symbols and no debug info (stripped)":
   i in [0, sym_warning_count). sym_warning returns NULL for i out of range. */
size_t sym_warning_count(const struct sym_ctx *s);
const char *sym_warning(const struct sym_ctx *s, size_t i);

/* How many distinct (module, address, is_return_address) lookups have been
   resolved so far; each is resolved once, later ones come from the cache.
   For progress and statistics. */
size_t sym_resolved_count(const struct sym_ctx *s);

/* Replaces the root for separate debug files (default "/usr/lib/debug"),
   for all modules not opened yet. dir is copied. Returns 0, or -1 + err
   (NULL ctx or dir, out of memory). Meant for tests and sysroots. */
int sym_set_debug_root(struct sym_ctx *s, const char *dir, char *err, size_t errlen);

#endif
