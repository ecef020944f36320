/* SPDX-License-Identifier: MIT
 *
 * stacks.c - stacks written once (render.h, struct rep_stacktab): a table of
 * distinct frames and a tree of call paths, each entry a frame and the
 * entry of its caller, so that stacks share their outer part. The JSON
 * report, the HTML page and baselines refer to stacks by their innermost
 * entry; a run of many processes repeats the same frames in each of them
 * (a shell's forks, a compiler's passes), and each stack was written in full
 * at every mention: 90 MB of JSON for a 482-process shell script.
 */
#include "report/render/render.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/arena.h"

struct rep_stacktab {
    const struct rep_frame **frames;   /* by id */
    size_t nframes, frames_cap;
    uint32_t *frame_slots;             /* open addressing: frame id + 1, 0 empty */
    size_t frame_mask;
    uint32_t (*entries)[2];            /* by id: frame, caller entry + 1 (0: none) */
    size_t nentries, entries_cap;
    uint32_t *entry_slots;
    size_t entry_mask;
};

struct rep_stacktab *rep_stacktab_new(void)
{
    return calloc(1, sizeof(struct rep_stacktab));
}

void rep_stacktab_free(struct rep_stacktab *t)
{
    if (!t)
        return;
    free(t->frames);
    free(t->frame_slots);
    free(t->entries);
    free(t->entry_slots);
    free(t);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v;
    return h * 0x100000001b3ull;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    if (!s)
        return mix(h, 0x1ff);   /* missing differs from empty */
    for (; *s; s++)
        h = mix(h, (unsigned char)*s);
    return mix(h, 0x100);
}

static uint64_t frame_hash(const struct rep_frame *f)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = mix_str(mix_str(mix_str(h, f->function), f->file), f->module);
    h = mix(mix(h, f->line), f->offset);
    return mix(h, (uint64_t)(f->inlined != 0) << 1 | (f->python != 0));
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_frame(const struct rep_frame *a, const struct rep_frame *b)
{
    return a->line == b->line && a->offset == b->offset && !a->inlined == !b->inlined &&
           !a->python == !b->python && same_str(a->function, b->function) &&
           same_str(a->file, b->file) && same_str(a->module, b->module);
}

static uint64_t entry_hash(uint32_t frame, uint32_t caller)
{
    return ((uint64_t)frame << 32 | caller) * 0x9e3779b97f4a7c15ull;
}

/* Doubles a slot array (kept at most half full) and places every id again. */
static int rehash(uint32_t **slots, size_t *mask, size_t n, uint64_t (*hash)(const void *, uint32_t),
                  const void *arg)
{
    if (*slots && n + 1 <= (*mask + 1) / 2)
        return 0;
    size_t cap = *slots ? (*mask + 1) * 2 : 64;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (uint32_t id = 0; id < n; id++) {
        size_t j = (size_t)(hash(arg, id) >> 20) & (cap - 1);
        while (s[j])
            j = (j + 1) & (cap - 1);
        s[j] = id + 1;
    }
    free(*slots);
    *slots = s;
    *mask = cap - 1;
    return 0;
}

static uint64_t frame_hash_id(const void *t, uint32_t id)
{
    return frame_hash(((const struct rep_stacktab *)t)->frames[id]);
}

static uint64_t entry_hash_id(const void *t, uint32_t id)
{
    const uint32_t *e = ((const struct rep_stacktab *)t)->entries[id];
    return entry_hash(e[0], e[1]);
}

int64_t rep_stacktab_frame(struct rep_stacktab *t, const struct rep_frame *f)
{
    if (rehash(&t->frame_slots, &t->frame_mask, t->nframes, frame_hash_id, t) < 0 ||
        rep_grow((void **)&t->frames, &t->frames_cap, t->nframes + 1, sizeof *t->frames) < 0)
        return -1;
    size_t j = (size_t)(frame_hash(f) >> 20) & t->frame_mask;
    for (; t->frame_slots[j]; j = (j + 1) & t->frame_mask)
        if (same_frame(t->frames[t->frame_slots[j] - 1], f))
            return t->frame_slots[j] - 1;
    t->frames[t->nframes] = f;
    t->frame_slots[j] = (uint32_t)++t->nframes;
    return (int64_t)t->nframes - 1;
}

int64_t rep_stacktab_entry(struct rep_stacktab *t, uint32_t frame, uint64_t caller)
{
    if (caller > t->nentries ||
        rehash(&t->entry_slots, &t->entry_mask, t->nentries, entry_hash_id, t) < 0 ||
        rep_grow((void **)&t->entries, &t->entries_cap, t->nentries + 1, sizeof *t->entries) < 0)
        return -1;
    size_t j = (size_t)(entry_hash(frame, (uint32_t)caller) >> 20) & t->entry_mask;
    for (; t->entry_slots[j]; j = (j + 1) & t->entry_mask) {
        const uint32_t *e = t->entries[t->entry_slots[j] - 1];
        if (e[0] == frame && e[1] == caller)
            return t->entry_slots[j];
    }
    t->entries[t->nentries][0] = frame;
    t->entries[t->nentries][1] = (uint32_t)caller;
    t->entry_slots[j] = (uint32_t)++t->nentries;
    return (int64_t)t->nentries;
}

int64_t rep_stacktab_add(struct rep_stacktab *t, const struct rep_frame *frames, uint32_t n)
{
    int64_t caller = 0;
    for (uint32_t i = n; i-- > 0;) {
        int64_t f = rep_stacktab_frame(t, &frames[i]);
        caller = f < 0 ? -1 : rep_stacktab_entry(t, (uint32_t)f, (uint64_t)caller);
        if (caller < 0)
            return -1;
    }
    return caller;
}

size_t rep_stacktab_nframes(const struct rep_stacktab *t)
{
    return t->nframes;
}

const struct rep_frame *rep_stacktab_frame_at(const struct rep_stacktab *t, size_t id)
{
    return t->frames[id];
}

size_t rep_stacktab_nentries(const struct rep_stacktab *t)
{
    return t->nentries;
}

void rep_stacktab_entry_at(const struct rep_stacktab *t, size_t id, uint32_t *frame,
                           uint32_t *caller)
{
    *frame = t->entries[id][0];
    *caller = t->entries[id][1];
}

void rep_stacktab_write_json(FILE *f, const struct rep_stacktab *t)
{
    fputs("\"frames\":[", f);
    for (size_t i = 0; i < t->nframes; i++) {
        const struct rep_frame *fr = t->frames[i];
        fputs(i ? ",{\"function\":" : "{\"function\":", f);
        rep_json_puts(f, fr->function);
        fputs(",\"file\":", f);
        rep_json_puts(f, fr->file);
        fprintf(f, ",\"line\":%u,\"module\":", fr->line);
        rep_json_puts(f, fr->module);
        fprintf(f, ",\"offset\":%" PRIu64 ",\"inlined\":%s,\"language\":\"%s\"}", fr->offset,
                fr->inlined ? "true" : "false", fr->python ? "python" : "native");
    }
    fputs("],\"stacks\":[", f);
    for (size_t i = 0; i < t->nentries; i++) {
        if (t->entries[i][1])
            fprintf(f, "%s[%" PRIu32 ",%" PRIu32 "]", i ? "," : "", t->entries[i][0],
                    t->entries[i][1] - 1);
        else
            fprintf(f, "%s[%" PRIu32 ",null]", i ? "," : "", t->entries[i][0]);
    }
    fputc(']', f);
}
