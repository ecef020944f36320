/* SPDX-License-Identifier: MIT
 *
 * rt_pyframe.c - the Python frames of an allocation's stack (rt_pyframe.h).
 *
 * The hot path reads, per frame, the link to the caller, the code object
 * and the instruction pointer: loads from memory the thread itself wrote,
 * no call into Python. Code objects are sent once each, when a stack that
 * names them is new: their ids come from a lock-free open-addressing table
 * keyed by (address, generation of the address), claimed by CAS like the
 * stack table's slots. What is read of a code object (its type, its name,
 * file and line table, whose types are checked too) is read while the
 * frame that runs it keeps it alive.
 */
#include "profiler/runtime/rt_pyframe.h"

#include "profiler/runtime/rt_python.h"
#include "profiler/runtime/rt_rec.h"

#include <string.h>

_Atomic int rt_pyf_on;

#define LOAD(type, base, off) (*(const type *)((base) + (off)))

/* Generations per hash of a code object's address, and which hashes have a
 * code object the runtime sent: 16 KiB and 1 KiB, read on every frame and
 * every free respectively. */
#define GEN_BITS 13
#define GENS (1u << GEN_BITS)
static _Atomic uint16_t gens[GENS];
static _Atomic uint64_t known[GENS / 64];

/* The code table: 64 Ki slots of 16 bytes, touched only where used. */
#define CODE_BITS 16
#define CODES (1u << CODE_BITS)
#define CODE_PROBES 256
#define CODE_BAD UINT32_MAX   /* a slot whose code object did not check out */

struct code_slot {
    _Atomic uint64_t key;     /* address ^ generation << 48; 0: free */
    _Atomic uint32_t id;      /* 0 until settled */
    uint32_t pad;
};

static struct code_slot *codes;
static _Atomic uint32_t next_code_id = 1;
static const struct rt_py *py;
static uintptr_t code_type, str_type, bytes_type;
static uintptr_t gc_header;   /* bytes of the code object's block before it */

#define MAX_NAME 1024
#define MAX_FILE 4096
#define MAX_TABLE (256u << 10)

static inline uint32_t addr_hash(uintptr_t a)
{
    return (uint32_t)(((a >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - GEN_BITS));
}

static inline uint64_t code_key(uintptr_t code, uint16_t gen)
{
    return (uint64_t)code ^ (uint64_t)gen << 48;
}

/* ---- reading the frame chain ------------------------------------------ */

/* The word's position field for a byte offset in the code (negative: the
 * frame has not started its first instruction). */
static inline uint32_t pos_of(intptr_t off)
{
    if (off < 0)
        return 0;
    return off >= RT_PYF_POS_MAX ? RT_PYF_POS_MAX : (uint32_t)off + 1;
}

/* The offsets a walk reads, in locals: stores into struct rt_pyf could
 * alias the layout's fields, which the compiler would then load again for
 * every frame. */
struct walk {
    uint32_t previous, code, instr, owner, code_units;
    unsigned lasti_units;
};

static struct walk walk_of(const struct rt_py_layout *l)
{
    return (struct walk){ l->fr_previous, l->fr_code, l->fr_instr, l->fr_owner, l->co_code,
                          l->lasti_units };
}

/* 3.8-3.10: a PyFrameObject per call, each its own eval-loop call. */
static unsigned read_frameobj(struct walk w, uintptr_t fr, struct rt_pyf *f)
{
    unsigned n = 0;
    for (; fr && n < RT_PY_MAX_FRAMES; fr = LOAD(uintptr_t, fr, w.previous)) {
        int lasti = LOAD(int, fr, w.instr);
        f->code[n] = LOAD(uintptr_t, fr, w.code);
        f->pos[n++] = pos_of(lasti < 0 ? -1 : (intptr_t)lasti * w.lasti_units) | RT_PYF_ENTRY;
    }
    return n;
}

/* 3.11: is_entry marks the first frame of each eval-loop call. */
static unsigned read_entry(struct walk w, uintptr_t fr, struct rt_pyf *f)
{
    unsigned n = 0;
    for (; fr && n < RT_PY_MAX_FRAMES; fr = LOAD(uintptr_t, fr, w.previous)) {
        uintptr_t code = LOAD(uintptr_t, fr, w.code);
        uintptr_t instr = LOAD(uintptr_t, fr, w.instr);
        f->code[n] = code;
        f->pos[n++] = pos_of((intptr_t)(instr - (code + w.code_units))) |
                      (LOAD(uint8_t, fr, w.owner) ? RT_PYF_ENTRY : 0);
    }
    return n;
}

/* 3.12+: each eval-loop call starts with a shim frame owned by the C stack,
 * below the frames it runs. */
static unsigned read_cstack(struct walk w, uintptr_t fr, struct rt_pyf *f)
{
    enum { OWNED_BY_CSTACK = 3 };
    unsigned n = 0;
    for (; fr && n < RT_PY_MAX_FRAMES; fr = LOAD(uintptr_t, fr, w.previous)) {
        if (LOAD(uint8_t, fr, w.owner) == OWNED_BY_CSTACK) {
            if (n)
                f->pos[n - 1] |= RT_PYF_ENTRY;
            continue;
        }
        uintptr_t code = LOAD(uintptr_t, fr, w.code);
        uintptr_t instr = LOAD(uintptr_t, fr, w.instr);
        f->code[n] = code;
        f->pos[n++] = pos_of((intptr_t)(instr - (code + w.code_units)));
    }
    return n;
}

/* The thread's last Python frames, outermost first, and the hash state
 * after each (the file comment of rt_pyframe.h). */
struct shadow {
    unsigned n;
    uint64_t key[RT_PY_MAX_FRAMES];
    uint32_t pos[RT_PY_MAX_FRAMES];
    struct rt_stack_hstate h[RT_PY_MAX_FRAMES];
};

static __thread struct shadow *shadow __attribute__((tls_model("initial-exec")));

/* The hash of f's frames from the outermost in, resumed from the shadow
 * where f shares its outer frames with it. */
static struct rt_stack_hstate hash_frames(const struct rt_pyf *f)
{
    struct shadow *s = shadow;
    if (!s && !(s = shadow = rt_arena_alloc(sizeof *s))) {
        struct rt_stack_hstate h = RT_STACK_HSTATE0;
        for (unsigned i = f->n; i-- > 0;)
            h = rt_stack_hstep(rt_stack_hstep(h, code_key(f->code[i], f->gen[i])), f->pos[i]);
        return h;
    }
    unsigned n = f->n, k = 0;
    while (k < n && k < s->n && s->key[k] == code_key(f->code[n - 1 - k], f->gen[n - 1 - k]) &&
           s->pos[k] == f->pos[n - 1 - k])
        k++;
    struct rt_stack_hstate h = k ? s->h[k - 1] : RT_STACK_HSTATE0;
    for (; k < n; k++) {
        s->key[k] = code_key(f->code[n - 1 - k], f->gen[n - 1 - k]);
        s->pos[k] = f->pos[n - 1 - k];
        h = s->h[k] = rt_stack_hstep(rt_stack_hstep(h, s->key[k]), s->pos[k]);
    }
    s->n = n;
    return h;
}

void rt_pyf_read_slow(struct rt_pyf *f, struct rt_stack_key *key)
{
    uintptr_t ts = rt_py_tstate();
    if (!ts)
        return;
    const struct rt_py_layout *l = py->layout;
    uintptr_t fr = LOAD(uintptr_t, ts, l->ts_frame);
    if (l->ts_cframe_frame >= 0)
        fr = fr ? LOAD(uintptr_t, fr, l->ts_cframe_frame) : 0;
    if (!fr)
        return;
    struct walk w = walk_of(l);
    unsigned n = l->frames == RT_PY_FRAMEOBJ ? read_frameobj(w, fr, f)
               : l->frames == RT_PY_IFRAME_ENTRY ? read_entry(w, fr, f)
               : read_cstack(w, fr, f);
    if (!n)
        return;
    for (unsigned i = 0; i < n; i++)
        f->gen[i] = atomic_load_explicit(&gens[addr_hash(f->code[i])], memory_order_relaxed);
    f->n = n;
    struct rt_stack_hstate h = hash_frames(f);
    h = rt_stack_hstep(rt_stack_hstep(h, key->key), key->check);
    *key = rt_stack_hfinal(h, n << 8);
}

void rt_pyf_thread_end(void)
{
    struct shadow *s = shadow;
    shadow = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    if (s)
        rt_arena_free(s, sizeof *s);
}

/* ---- code objects ------------------------------------------------------ */

static uint32_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80)
        return out[0] = (char)cp, 1;
    if (cp < 0x800)
        return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At most `cap` bytes of s, not cutting a UTF-8 sequence. */
static uint32_t utf8_cut(const char *s, uint64_t len, uint32_t cap)
{
    if (len <= cap)
        return (uint32_t)len;
    uint32_t n = cap;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* The UTF-8 text of a str object: its own bytes (ASCII, or its cached UTF-8)
 * or its code points encoded into buf (cap bytes, cap >= 4). NULL when it is
 * not a str or not a compact one. */
static const char *str_text(uintptr_t s, char *buf, uint32_t cap, uint32_t *len)
{
    const struct rt_py_layout *l = py->layout;
    *len = 0;
    if (!s || (s & 7) || LOAD(uintptr_t, s, 8) != str_type)
        return NULL;
    uint32_t state = LOAD(uint32_t, s, l->str_state);
    int64_t n = LOAD(int64_t, s, l->str_length);
    unsigned kind = state >> 2 & 7;
    if (!(state >> 5 & 1) || n < 0)
        return NULL;
    if (state >> 6 & 1) {
        const char *p = (const char *)(s + l->str_ascii_size);
        *len = utf8_cut(p, (uint64_t)n, cap);
        return p;
    }
    uintptr_t u8 = LOAD(uintptr_t, s, l->str_utf8);
    if (u8) {
        *len = utf8_cut((const char *)u8, (uint64_t)LOAD(int64_t, s, l->str_utf8_length), cap);
        return (const char *)u8;
    }
    uintptr_t data = s + l->str_compact_size;
    uint32_t k = 0;
    for (int64_t i = 0; i < n && k + 4 <= cap; i++) {
        uint32_t cp = kind == 1 ? LOAD(uint8_t, data, i)
                    : kind == 2 ? LOAD(uint16_t, data, 2 * i) : LOAD(uint32_t, data, 4 * i);
        k += utf8_put(buf + k, cp);
    }
    *len = k;
    return buf;
}

/* Sends the metadata of the code object at `code` under `id`; 0 when it is
 * not a code object whose name, file and line table check out. */
static int send_code(uintptr_t code, uint32_t id)
{
    const struct rt_py_layout *l = py->layout;
    if ((code & 7) || (code_type && LOAD(uintptr_t, code, 8) != code_type))
        return 0;
    char nbuf[MAX_NAME], fbuf[MAX_FILE];
    uint32_t nlen, flen;
    const char *name = str_text(LOAD(uintptr_t, code, l->co_qualname ? l->co_qualname : l->co_name),
                                nbuf, sizeof nbuf, &nlen);
    const char *file = str_text(LOAD(uintptr_t, code, l->co_filename), fbuf, sizeof fbuf, &flen);
    uintptr_t table = LOAD(uintptr_t, code, l->co_linetable);
    if (!name || !file || !table || LOAD(uintptr_t, table, 8) != bytes_type)
        return 0;
    int64_t tlen = LOAD(int64_t, table, l->var_size);
    struct rt_blob_pycode b = {
        .code_id = id, .first_line = LOAD(int32_t, code, l->co_firstlineno),
        .name_len = nlen, .file_len = flen,
        .table_len = tlen < 0 ? 0 : tlen > MAX_TABLE ? MAX_TABLE : (uint32_t)tlen,
    };
    struct rt_blob_part parts[] = { { &b, sizeof b }, { name, nlen }, { file, flen },
                                    { (const void *)(table + l->bytes_data), b.table_len } };
    rt_ring_push_parts(RT_BLOB_PYCODE, parts, 4);
    return 1;
}

static uint32_t settled(struct code_slot *s)
{
    for (int spin = 0; spin < 1000; spin++) {
        uint32_t id = atomic_load_explicit(&s->id, memory_order_acquire);
        if (id)
            return id == CODE_BAD ? 0 : id;
        __builtin_ia32_pause();
    }
    return 0;
}

/* The id of (code, gen), sending the code object when it is new. */
static uint32_t code_id(uintptr_t code, uint16_t gen)
{
    uint64_t k = code_key(code, gen);
    if (!code || !codes)
        return 0;
    uint32_t at = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - CODE_BITS));
    for (uint32_t i = 0; i < CODE_PROBES; i++) {
        struct code_slot *s = &codes[(at + i) & (CODES - 1)];
        uint64_t h = atomic_load_explicit(&s->key, memory_order_acquire);
        if (h == 0 && atomic_compare_exchange_strong(&s->key, &h, k)) {
            uint32_t id = atomic_fetch_add(&next_code_id, 1);
            if (!send_code(code, id)) {
                atomic_store_explicit(&s->id, CODE_BAD, memory_order_release);
                return 0;
            }
            uint32_t hash = addr_hash(code);
            atomic_fetch_or(&known[hash / 64], 1ull << (hash % 64));
            atomic_store_explicit(&s->id, id, memory_order_release);
            return id;
        }
        if (h == k)
            return settled(s);
    }
    return 0;
}

void rt_pyf_encode(const struct rt_pyf *f, uint64_t *out)
{
    for (unsigned i = 0; i < f->n; i++)
        out[i] = RT_PYF_PYTHON | (uint64_t)f->pos[i] << 32 | code_id(f->code[i], f->gen[i]);
}

/* 1 when the code table holds key k. */
static int holds(uint64_t k)
{
    uint32_t at = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - CODE_BITS));
    for (uint32_t i = 0; i < CODE_PROBES; i++) {
        uint64_t h = atomic_load_explicit(&codes[(at + i) & (CODES - 1)].key, memory_order_acquire);
        if (h == k)
            return 1;
        if (h == 0)
            return 0;
    }
    return 0;
}

size_t rt_pyf_min_block = SIZE_MAX;

void rt_pyf_born_slow(uintptr_t block)
{
    uintptr_t code = block + gc_header;
    uint32_t h = addr_hash(code);
    if (!(atomic_load_explicit(&known[h / 64], memory_order_relaxed) & (1ull << (h % 64))) || !codes)
        return;
    uint16_t gen = atomic_load_explicit(&gens[h], memory_order_relaxed);
    if (holds(code_key(code, gen)))
        atomic_fetch_add(&gens[h], 1);
}

/* ---- set-up -------------------------------------------------------------- */

void rt_pyf_start(void)
{
    enum { TP_FLAGS = 168, HAVE_GC = 1 << 14, PREHEADER = 3 << 3 };
    py = rt_py_get();
    if (!py)
        return;
    code_type = rt_py_symbol("PyCode_Type");
    str_type = rt_py_symbol("PyUnicode_Type");
    bytes_type = rt_py_symbol("PyBytes_Type");
    if (!code_type || !str_type || !bytes_type)
        return;
    unsigned long flags = LOAD(unsigned long, code_type, TP_FLAGS);
    gc_header = (flags & HAVE_GC ? 16 : 0) +
                (py->layout->version >= 0x030c0000 && (flags & PREHEADER) ? 16 : 0);
    if (!codes)
        codes = rt_arena_alloc(CODES * sizeof *codes);
    const struct rt_py_layout *l = py->layout;
    rt_pyf_min_block = gc_header + l->co_linetable + sizeof(uintptr_t);
    if (codes)
        atomic_store(&rt_pyf_on, 1);
}

void rt_pyf_reset(void)
{
    if (!codes)
        return;
    rt_arena_free(codes, CODES * sizeof *codes);
    codes = rt_arena_alloc(CODES * sizeof *codes);
    atomic_store(&next_code_id, 1);
    for (unsigned i = 0; i < GENS / 64; i++)
        atomic_store_explicit(&known[i], 0, memory_order_relaxed);
    if (!codes)
        atomic_store(&rt_pyf_on, 0);
}
