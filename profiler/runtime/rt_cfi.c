/* SPDX-License-Identifier: MIT
 *
 * rt_cfi.c - decodes the unwind rule of a return address from .eh_frame
 * (the DWARF call frame information format, as extended by the LSB).
 *
 * _dl_find_object gives the object's .eh_frame_hdr without a lock; its
 * sorted table finds the FDE by binary search; the CIE's and the FDE's
 * instructions are then run up to the call, tracking only the three rules an
 * unwinder needs (CFA, rbp, return address). This is the slow path of the
 * unwinder: each return address is decoded once per thread and cached
 * (rt_unwind.c). Every read stays inside the CIE or FDE being decoded.
 */
#include "profiler/runtime/rt_cfi.h"

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

enum { REG_BP = 6, REG_SP = 7, REG_RA = 16 };
enum { STATES = 8 };

struct cursor {
    const uint8_t *p, *end;
    int bad;
};

static uint8_t u8(struct cursor *c)
{
    if (c->p >= c->end) {
        c->bad = 1;
        return 0;
    }
    return *c->p++;
}

static uint64_t fixed(struct cursor *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        c->p = c->end;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n);
    c->p += n;
    return v;
}

static uint64_t uleb(struct cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = u8(c);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static int64_t sleb(struct cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = u8(c);
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && shift < 64);
    if (shift < 64 && (b & 0x40))
        v |= ~0ull << shift;
    return (int64_t)v;
}

/* A pointer in DW_EH_PE encoding `enc`; datarel is .eh_frame_hdr's start. */
static uint64_t pointer(struct cursor *c, uint8_t enc, uint64_t datarel)
{
    uint64_t base;
    switch (enc & 0x70) {
    case 0x00: base = 0; break;
    case 0x10: base = (uint64_t)(uintptr_t)c->p; break;
    case 0x30: base = datarel; break;
    default: c->bad = 1; return 0;
    }
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x0: case 0x4: v = fixed(c, 8); break;
    case 0x1: v = uleb(c); break;
    case 0x2: v = fixed(c, 2); break;
    case 0x3: v = fixed(c, 4); break;
    case 0x9: v = (uint64_t)sleb(c); break;
    case 0xa: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
    case 0xb: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
    case 0xc: v = fixed(c, 8); break;
    default: c->bad = 1; return 0;
    }
    return base + v;
}

/* ---- the CIE -------------------------------------------------------- */

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    int has_aug;
    struct cursor insns;
};

static int read_cie(const uint8_t *at, struct cie *out)
{
    uint32_t len;
    memcpy(&len, at, 4);
    if (len == 0 || len == 0xffffffffu)
        return -1;
    struct cursor c = { at + 4, at + 4 + len, 0 };
    if (fixed(&c, 4) != 0)
        return -1;
    uint8_t version = u8(&c);
    const char *aug = (const char *)c.p;
    while (u8(&c) && !c.bad)
        ;
    out->code_align = uleb(&c);
    out->data_align = sleb(&c);
    uint64_t ra = version == 1 ? u8(&c) : uleb(&c);
    out->fde_enc = 0;
    out->has_aug = aug[0] == 'z';
    if (ra != REG_RA || (!out->has_aug && aug[0]))
        return -1;
    if (!out->has_aug) {
        out->insns = c;
        return c.bad ? -1 : 0;
    }
    uint64_t aug_len = uleb(&c);
    const uint8_t *after = c.p + aug_len;
    for (const char *a = aug + 1; *a && !c.bad; a++) {
        if (*a == 'R')
            out->fde_enc = u8(&c);
        else if (*a == 'P')
            pointer(&c, u8(&c) & 0x7f, 0);
        else if (*a == 'L')
            u8(&c);
        else if (*a == 'S')
            return -1; /* a signal frame: its rules are expressions */
        else
            break;
    }
    if (c.bad || after > c.end)
        return -1;
    c.p = after;
    out->insns = c;
    return 0;
}

/* ---- running the instructions --------------------------------------- */

struct state {
    int cfa_reg;
    int64_t cfa_off;
    int bp_saved;   /* 1: at CFA + bp_off */
    int64_t bp_off;
    int ra_undef;
    int bad;        /* a rule we cannot express */
};

struct machine {
    struct state now, init, stack[STATES];
    int depth;
    uint64_t loc, target;
    const struct cie *cie;
};

static void set_reg_offset(struct state *s, uint64_t reg, int64_t off)
{
    if (reg == REG_BP) {
        s->bp_saved = 1;
        s->bp_off = off;
    } else if (reg == REG_RA) {
        s->ra_undef = 0;
        s->bad |= off != -8;
    }
}

static void set_reg_other(struct state *s, uint64_t reg, int undefined)
{
    if (reg == REG_BP) {
        s->bp_saved = 0;
        s->bad |= undefined;
    } else if (reg == REG_RA) {
        s->ra_undef = undefined;
        s->bad |= !undefined;
    }
}

static void restore_reg(struct machine *m, uint64_t reg)
{
    if (reg == REG_BP) {
        m->now.bp_saved = m->init.bp_saved;
        m->now.bp_off = m->init.bp_off;
    } else if (reg == REG_RA) {
        m->now.ra_undef = m->init.ra_undef;
    }
}

static void skip_block(struct cursor *c)
{
    uint64_t n = uleb(c);
    if (n > (uint64_t)(c->end - c->p))
        c->bad = 1;
    else
        c->p += n;
}

/* Advances the location; 1 once it passed the target (stop there). */
static int advance(struct machine *m, uint64_t delta)
{
    m->loc += delta * m->cie->code_align;
    return m->loc > m->target;
}

/* Runs one extended (low-opcode) instruction. */
static void run_extended(struct machine *m, struct cursor *c, uint8_t op)
{
    struct state *s = &m->now;
    int64_t da = m->cie->data_align;
    uint64_t reg;
    switch (op) {
    case 0x00: break;                                              /* nop */
    case 0x05: reg = uleb(c); set_reg_offset(s, reg, (int64_t)uleb(c) * da); break;
    case 0x06: restore_reg(m, uleb(c)); break;
    case 0x07: set_reg_other(s, uleb(c), 1); break;                /* undefined */
    case 0x08: set_reg_other(s, uleb(c), 0); break;                /* same value */
    case 0x09: reg = uleb(c); uleb(c); s->bad |= reg == REG_BP || reg == REG_RA; break;
    case 0x0a:                                                     /* remember */
        if (m->depth == STATES)
            s->bad = 1;
        else
            m->stack[m->depth++] = *s;
        break;
    case 0x0b:                                                     /* restore */
        if (m->depth == 0)
            s->bad = 1;
        else
            *s = m->stack[--m->depth];
        break;
    case 0x0c: s->cfa_reg = (int)uleb(c); s->cfa_off = (int64_t)uleb(c); break;
    case 0x0d: s->cfa_reg = (int)uleb(c); break;
    case 0x0e: s->cfa_off = (int64_t)uleb(c); break;
    case 0x0f: skip_block(c); s->cfa_reg = -1; break;              /* CFA expression */
    case 0x10: case 0x16:                                          /* (val_)expression */
        reg = uleb(c);
        skip_block(c);
        s->bad |= reg == REG_BP || reg == REG_RA;
        break;
    case 0x11: reg = uleb(c); set_reg_offset(s, reg, sleb(c) * da); break;
    case 0x12: s->cfa_reg = (int)uleb(c); s->cfa_off = sleb(c) * da; break;
    case 0x13: s->cfa_off = sleb(c) * da; break;
    case 0x14: case 0x15:                                          /* val_offset */
        reg = uleb(c);
        if (op == 0x14)
            uleb(c);
        else
            sleb(c);
        s->bad |= reg == REG_BP || reg == REG_RA;
        break;
    case 0x2e: uleb(c); break;                                     /* GNU_args_size */
    case 0x2f: reg = uleb(c); set_reg_offset(s, reg, -(int64_t)uleb(c) * da); break;
    default: c->bad = 1; break;
    }
}

/* Runs instructions until the location passes the target or they end. */
static void run(struct machine *m, struct cursor c)
{
    while (c.p < c.end && !c.bad && !m->now.bad) {
        uint8_t op = u8(&c);
        int stop = 0;
        switch (op >> 6) {
        case 1: stop = advance(m, op & 0x3f); break;
        case 2: set_reg_offset(&m->now, op & 0x3f, (int64_t)uleb(&c) * m->cie->data_align); break;
        case 3: restore_reg(m, op & 0x3f); break;
        default:
            if (op == 0x01)
                c.bad = 1; /* set_loc: never emitted for PIC code */
            else if (op >= 0x02 && op <= 0x04)
                stop = advance(m, fixed(&c, op == 0x02 ? 1u : op == 0x03 ? 2u : 4u));
            else
                run_extended(m, &c, op);
        }
        if (stop)
            return;
    }
    m->now.bad |= c.bad;
}

/* ---- finding the FDE ------------------------------------------------ */

/* The FDE whose range may hold pc, from .eh_frame_hdr's sorted table. */
static const uint8_t *find_fde(const uint8_t *hdr, uint64_t pc)
{
    if (hdr[0] != 1 || hdr[3] != 0x3b) /* version 1, table datarel sdata4 */
        return NULL;
    struct cursor c = { hdr + 4, hdr + 32, 0 };
    pointer(&c, hdr[1], (uint64_t)(uintptr_t)hdr);
    uint64_t count = pointer(&c, hdr[2], (uint64_t)(uintptr_t)hdr);
    if (c.bad || count == 0)
        return NULL;
    const int32_t *table = (const int32_t *)(const void *)c.p;
    uint64_t base = (uint64_t)(uintptr_t)hdr;
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (base + (uint64_t)(int64_t)table[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (base + (uint64_t)(int64_t)table[2 * lo] > pc)
        return NULL;
    return (const uint8_t *)(uintptr_t)(base + (uint64_t)(int64_t)table[2 * lo + 1]);
}

static struct rt_cfi_rule express(const struct state *s)
{
    struct rt_cfi_rule r = { 0, 0, 0 };
    if (s->bad || (s->cfa_reg != REG_SP && s->cfa_reg != REG_BP) ||
        s->cfa_off <= 0 || s->cfa_off > INT32_MAX ||
        (s->bp_saved && (s->bp_off < INT16_MIN || s->bp_off > INT16_MAX)))
        return r;
    r.cfa_off = (int32_t)s->cfa_off;
    r.bp_off = (int16_t)s->bp_off;
    r.how = RT_CFI_OK | (s->cfa_reg == REG_BP ? RT_CFI_BP : 0) |
            (s->bp_saved ? RT_CFI_SAVES_BP : 0) | (s->ra_undef ? RT_CFI_END : 0);
    return r;
}

struct rt_cfi_rule rt_cfi_rule(uint64_t ra)
{
    struct rt_cfi_rule none = { 0, 0, 0 };
    uint64_t pc = ra - 1;
    struct dl_find_object obj;
    if (_dl_find_object((void *)(uintptr_t)pc, &obj) != 0 || !obj.dlfo_eh_frame)
        return none;
    const uint8_t *fde = find_fde(obj.dlfo_eh_frame, pc);
    if (!fde)
        return none;
    uint32_t len, cie_off;
    memcpy(&len, fde, 4);
    memcpy(&cie_off, fde + 4, 4);
    if (len == 0 || len == 0xffffffffu || cie_off == 0)
        return none;
    struct cie cie;
    if (read_cie(fde + 4 - cie_off, &cie) < 0)
        return none;
    struct cursor c = { fde + 8, fde + 4 + len, 0 };
    uint64_t begin = pointer(&c, cie.fde_enc, 0);
    uint64_t range = pointer(&c, cie.fde_enc & 0x0f, 0);
    if (cie.has_aug)
        skip_block(&c);
    if (c.bad || pc < begin || pc - begin >= range)
        return none;
    struct machine m = { .loc = begin, .target = pc, .cie = &cie };
    m.now = (struct state){ .cfa_reg = -1 };
    run(&m, cie.insns);
    m.init = m.now;
    m.depth = 0;
    m.loc = begin;
    run(&m, c);
    return express(&m.now);
}
