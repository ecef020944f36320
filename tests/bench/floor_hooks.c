/* floor_hooks: the lower bound of an exact recorder, for docs/benchmarks.md.
 * Preloaded into a program, it sees every allocation and free and writes a
 * 32-byte record of each (kind, address, size, time) into a 1 MiB buffer
 * of its own that nothing reads: no stack, no shared ring, no collector, no
 * snapshot. What a recorder of every event pays beyond this is its own
 * design; this part no design avoids. Not a test and not part of heapgraph.
 *
 *   cc -O2 -fPIC -shared tests/bench/floor_hooks.c -o /tmp/floor_hooks.so
 *   LD_PRELOAD=/tmp/floor_hooks.so PROGRAM...
 *
 * FLOOR_PYMEM=1: wrap CPython's PyMem and PyObject domains instead of
 * malloc (what `heapgraph run --python-allocator pymalloc` records), from a
 * constructor that runs before the interpreter makes its first object.
 * FLOOR_CLOCK=1: read the TSC for every record (heapgraph reuses a read
 * for up to 7 events of a single-threaded process); else a counter.
 * FLOOR_COUNT=1: print the number of records at exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

struct rec {
    uint64_t kind, addr, size, time;
};

enum { ALLOC = 1, FREE = 2 };

#define CAP (1u << 15)

static struct rec buf[CAP];
static __thread uint64_t n_recs;
static __thread int inside; /* glibc's own calls while a record is written */
static int use_clock;
static int hook_malloc = 1;

static inline void put(uint64_t kind, const void *p, size_t size)
{
    struct rec *r = &buf[n_recs & (CAP - 1)];
    r->kind = kind;
    r->addr = (uint64_t)(uintptr_t)p;
    r->size = size;
    r->time = use_clock ? __rdtsc() : n_recs;
    n_recs++;
}

static inline void note(uint64_t kind, const void *p, size_t size)
{
    if (hook_malloc && !inside) {
        inside = 1;
        put(kind, p, size);
        inside = 0;
    }
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    note(ALLOC, p, n);
    return p;
}

void *calloc(size_t k, size_t n)
{
    void *p = __libc_calloc(k, n);
    note(ALLOC, p, k * n);
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p = __libc_realloc(old, n);
    if (old)
        note(FREE, old, 0);
    note(ALLOC, p, n);
    return p;
}

void free(void *p)
{
    if (p)
        note(FREE, p, 0);
    __libc_free(p);
}

/* CPython's PyMemAllocatorEx. */
struct pyalloc {
    void *ctx;
    void *(*malloc)(void *, size_t);
    void *(*calloc)(void *, size_t, size_t);
    void *(*realloc)(void *, void *, size_t);
    void (*free)(void *, void *);
};

static struct pyalloc inner[3]; /* by domain: 1 PyMem, 2 PyObject */

static void *py_malloc(void *ctx, size_t n)
{
    struct pyalloc *a = ctx;
    void *p = a->malloc(a->ctx, n);
    put(ALLOC, p, n);
    return p;
}

static void *py_calloc(void *ctx, size_t k, size_t n)
{
    struct pyalloc *a = ctx;
    void *p = a->calloc(a->ctx, k, n);
    put(ALLOC, p, k * n);
    return p;
}

static void *py_realloc(void *ctx, void *old, size_t n)
{
    struct pyalloc *a = ctx;
    void *p = a->realloc(a->ctx, old, n);
    if (old)
        put(FREE, old, 0);
    put(ALLOC, p, n);
    return p;
}

static void py_free(void *ctx, void *p)
{
    struct pyalloc *a = ctx;
    if (p)
        put(FREE, p, 0);
    a->free(a->ctx, p);
}

static void wrap_pymem(void)
{
    typedef void (*domain_fn)(int, struct pyalloc *);
    domain_fn get = (domain_fn)dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    domain_fn set = (domain_fn)dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    if (!get || !set) {
        fputs("floor_hooks: no PyMem_SetAllocator in this program\n", stderr);
        return;
    }
    for (int d = 1; d <= 2; d++) {
        get(d, &inner[d]);
        struct pyalloc w = { &inner[d], py_malloc, py_calloc, py_realloc, py_free };
        set(d, &w);
    }
}

static void print_count(void)
{
    fprintf(stderr, "floor_hooks: %llu records\n", (unsigned long long)n_recs);
}

__attribute__((constructor)) static void floor_init(void)
{
    use_clock = getenv("FLOOR_CLOCK") != NULL;
    if (getenv("FLOOR_PYMEM")) {
        hook_malloc = 0;
        wrap_pymem();
    }
    if (getenv("FLOOR_COUNT"))
        atexit(print_count);
}
