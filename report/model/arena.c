/* SPDX-License-Identifier: MIT
 *
 * arena.c - a bump allocator over a list of big blocks. The model of one
 * capture (strings, stacks, snapshots) is allocated here and freed in one
 * call; oversized requests get a block of their own.
 */
#include "report/model/arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (1u << 20)

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct rep_arena {
    struct arena_block *head;
};

struct rep_arena *rep_arena_new(void)
{
    return calloc(1, sizeof(struct rep_arena));
}

void rep_arena_free(struct rep_arena *a)
{
    if (!a)
        return;
    while (a->head) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    free(a);
}

static struct arena_block *new_block(struct rep_arena *a, size_t cap)
{
    struct arena_block *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = a->head;
    a->head = b;
    return b;
}

void *rep_arena_alloc(struct rep_arena *a, size_t n)
{
    if (n > SIZE_MAX - 64)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        /* A big request gets its own block so the current one keeps its room. */
        if (n > ARENA_BLOCK / 4) {
            struct arena_block *own = malloc(sizeof *own + n);
            if (!own)
                return NULL;
            own->used = own->cap = n;
            if (a->head) {
                own->next = a->head->next;
                a->head->next = own;
            } else {
                own->next = NULL;
                a->head = own;
            }
            return memset(own->data, 0, n);
        }
        b = new_block(a, ARENA_BLOCK);
        if (!b)
            return NULL;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return memset(p, 0, n);
}

void *rep_arena_dup(struct rep_arena *a, const void *src, size_t n)
{
    void *p = rep_arena_alloc(a, n ? n : 1);
    if (p && n)
        memcpy(p, src, n);
    return p;
}

char *rep_arena_strndup(struct rep_arena *a, const char *s, size_t len)
{
    char *p = rep_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

int rep_grow(void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return -1;
    void *p = realloc(*buf, n * size);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}
