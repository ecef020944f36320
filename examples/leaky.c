/* SPDX-License-Identifier: MIT
 *
 * leaky.c - the demo program of `./dev.sh demo`: a small "session manager"
 * with the three kinds of memory heapgraph tells apart.
 *
 *  - a leak: 100 request buffers of 32 bytes whose pointers are dropped
 *    (definite: nothing points at them);
 *  - a cycle: two sessions that point at each other after the program forgets
 *    them (2 blocks, each 48 bytes, that no root reaches, kept alive only by
 *    each other: what reference counting can never free);
 *  - a cache: 10 entries of 64 bytes that a global, g_cache, still holds at
 *    exit (reachable: retained by a global, not a leak).
 *
 * Build: cc -g -O1 examples/leaky.c -o leaky; record: heapgraph run -- ./leaky
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session {
    struct session *peer; /* the pointer that closes the cycle */
    char user[40];
};

struct cache_entry {
    struct cache_entry *next;
    char key[56];
};

struct cache_entry *g_cache;

static __attribute__((noinline)) char *read_request(int i)
{
    char *buf = malloc(32);
    snprintf(buf, 32, "GET /item/%d", i);
    return buf;
}

static __attribute__((noinline)) void handle_requests(void)
{
    for (int i = 0; i < 100; i++) {
        char *req = read_request(i);
        if (strlen(req) > 31)
            puts(req); /* never: the buffer is just dropped, a leak */
    }
}

static __attribute__((noinline)) struct session *open_session(const char *user)
{
    struct session *s = calloc(1, sizeof *s);
    snprintf(s->user, sizeof s->user, "%s", user);
    return s;
}

static __attribute__((noinline)) void pair_sessions(void)
{
    struct session *a = open_session("alice"), *b = open_session("bob");
    a->peer = b;
    b->peer = a; /* a cycle: dropping a and b leaves them pointing at each other */
}

static __attribute__((noinline)) void fill_cache(void)
{
    for (int i = 0; i < 10; i++) {
        struct cache_entry *e = malloc(sizeof *e);
        snprintf(e->key, sizeof e->key, "item-%d", i);
        e->next = g_cache;
        g_cache = e;
    }
}

int main(void)
{
    handle_requests();
    pair_sessions();
    fill_cache();
    printf("served 100 requests, 2 sessions, %s cached\n", g_cache ? "10 items" : "nothing");
    return 0;
}
