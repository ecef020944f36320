/* SPDX-License-Identifier: MIT
 *
 * rt_pytype.c - CPython's type objects for heap snapshots (rt_pytype.h).
 *
 * An address is a type object when the word at tp_flags says the type is
 * ready and its own type (the word at 8) has Py_TPFLAGS_TYPE_SUBCLASS: it
 * is `type` or a metaclass. The first 168 bytes of PyTypeObject, up to
 * tp_flags, are the same from 3.0 to 3.13. Every read goes through
 * rt_peek, so an address that is not mapped is a "no", never a fault. Verdicts live in an open-addressing table in the runtime's arena,
 * keyed by address; it grows, and it is shared by every snapshot of the
 * process image (a type keeps its capture id while its address holds it).
 *
 * The kind of a type (list, dict, module, ...) is found by comparing it
 * and its bases with the interpreter's exported static types; the named
 * fields sent with it (a bound method's __self__, a cell's contents, a
 * class's __slots__) let the reporter name references the way Python code
 * does.
 */
#include "profiler/runtime/rt_pytype.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_peek.h"

#include <string.h>

#define TP_FLAGS_OFF 168  /* tp_flags, the same in every supported version */
#define MAX_BASES 32      /* tp_base chain followed to find a kind */
#define MAX_MEMBERS 64    /* tp_members entries sent per type */
#define BLOB_MAX 8192
#define T_OBJECT 6        /* PyMemberDef types that hold a reference */
#define T_OBJECT_EX 16
#define F_LONG_SUBCLASS (1ul << 24)
#define F_LIST_SUBCLASS (1ul << 25)
#define F_TUPLE_SUBCLASS (1ul << 26)
#define F_BYTES_SUBCLASS (1ul << 27)
#define F_UNICODE_SUBCLASS (1ul << 28)
#define F_DICT_SUBCLASS (1ul << 29)
#define F_EXC_SUBCLASS (1ul << 30)
#define F_VALID_VERSION (1ul << 19)

static struct rt_pytype *table;
static size_t cap, count;
static uint32_t stamp, next_id = 1;
static const struct rt_py *py;

/* The interpreter's static types whose instances the report names. */
static const struct { const char *symbol; uint8_t kind; } statics[] = {
    {"PyList_Type", RT_PYK_LIST}, {"PyTuple_Type", RT_PYK_TUPLE}, {"PyDict_Type", RT_PYK_DICT},
    {"PySet_Type", RT_PYK_SET}, {"PyFrozenSet_Type", RT_PYK_SET}, {"PyUnicode_Type", RT_PYK_STR},
    {"PyModule_Type", RT_PYK_MODULE}, {"PyType_Type", RT_PYK_TYPE},
    {"PyFunction_Type", RT_PYK_FUNCTION}, {"PyCell_Type", RT_PYK_CELL},
    {"PyMethod_Type", RT_PYK_METHOD}, {"PyFrame_Type", RT_PYK_FRAME},
    {"PyCode_Type", RT_PYK_CODE}, {"PyGen_Type", RT_PYK_GENERATOR},
    {"PyCoro_Type", RT_PYK_GENERATOR}, {"PyAsyncGen_Type", RT_PYK_GENERATOR},
    {"PyBytes_Type", RT_PYK_BYTES}, {"PyLong_Type", RT_PYK_INT}, {"PyBool_Type", RT_PYK_INT},
    {"PyFloat_Type", RT_PYK_FLOAT}, {"_PyWeakref_RefType", RT_PYK_WEAKREF},
    {"_PyWeakref_ProxyType", RT_PYK_WEAKREF}, {"_PyWeakref_CallableProxyType", RT_PYK_WEAKREF},
};
#define NSTATICS (sizeof statics / sizeof statics[0])
static uintptr_t static_addr[NSTATICS];
static uintptr_t traceback_type;

/* ---------------------------------------------------------------- reads */

/* Appends code point c as UTF-8 if it fits before end - 1. */
static char *put_utf8(char *o, char *end, uint32_t c)
{
    char tmp[4];
    int n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (n == 1)
        tmp[0] = (char)c;
    else {
        for (int i = n - 1; i > 0; i--, c >>= 6)
            tmp[i] = (char)(0x80 | (c & 0x3f));
        tmp[0] = (char)((n == 2 ? 0xc0 : n == 3 ? 0xe0 : 0xf0) | c);
    }
    if (end - o <= n)
        return NULL;
    memcpy(o, tmp, (size_t)n);
    return o + n;
}

/* Reads len bytes at addr: directly when [addr, addr + len) lies below
 * `end` (memory the caller vouches for), else safely. */
static int read_in(uintptr_t addr, uintptr_t end, void *out, size_t len)
{
    if (!end)
        return rt_peek_all(out, addr, len);
    if (addr + len > end || addr + len < addr)
        return 0;
    memcpy(out, (const void *)addr, len);
    return 1;
}

size_t rt_pytype_str(uintptr_t str, uintptr_t end, char *buf, size_t cap)
{
    const struct rt_py_layout *l = py ? py->layout : NULL;
    uint32_t state;
    uint64_t length;
    uint8_t raw[256];
    buf[0] = 0;
    if (!l || !read_in(str + l->str_state, end, &state, sizeof state) ||
        !read_in(str + l->str_length, end, &length, sizeof length) || !(state & (1u << 5)))
        return 0;
    unsigned width = (state >> 2) & 7, ascii = (state >> 6) & 1;
    if (width != 1 && width != 2 && width != 4)
        return 0;
    uint64_t n = length < cap - 1 ? length : cap - 1;
    if (n * width > sizeof raw)
        n = sizeof raw / width;
    uintptr_t data = str + (ascii ? l->str_ascii_size : l->str_compact_size);
    if (!read_in(data, end, raw, n * width))
        return 0;
    char *o = buf, *stop = buf + cap;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t c = width == 1 ? raw[i] : width == 2 ? ((uint16_t *)raw)[i] : ((uint32_t *)raw)[i];
        char *next = put_utf8(o, stop, c);
        if (!next)
            break;
        o = next;
    }
    *o = 0;
    return (size_t)(o - buf);
}

/* A C string (tp_name, a member's name), safely, cut at cap - 1. */
static size_t c_string(uintptr_t p, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    while (n + 1 < cap) {
        char chunk[32];
        size_t want = cap - 1 - n < sizeof chunk ? cap - 1 - n : sizeof chunk;
        /* a read across an unmapped page fails: fall back to byte reads */
        if (!rt_peek_all(chunk, p + n, want) && !(want = 1, rt_peek_all(chunk, p + n, 1)))
            break;
        for (size_t i = 0; i < want; i++) {
            if (!chunk[i]) {
                buf[n] = 0;
                return n;
            }
            buf[n++] = chunk[i];
        }
    }
    buf[n] = 0;
    return n;
}

/* ---------------------------------------------------------------- table */

static size_t slot_of(uintptr_t t, size_t mask)
{
    return (size_t)((t >> 3) * 0x9E3779B97F4A7C15ull >> 20) & mask;
}

static int grow(void)
{
    size_t ncap = cap ? cap * 2 : 4096;
    struct rt_pytype *n = rt_arena_alloc(ncap * sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < cap; i++) {
        if (!table[i].addr)
            continue;
        size_t j = slot_of(table[i].addr, ncap - 1);
        while (n[j].addr)
            j = (j + 1) & (ncap - 1);
        n[j] = table[i];
    }
    if (table)
        rt_arena_free(table, cap * sizeof *table);
    table = n;
    cap = ncap;
    return 0;
}

int rt_pytype_begin(void)
{
    py = rt_py_get();
    if (!py)
        return -1;
    if (!static_addr[0]) {
        for (size_t i = 0; i < NSTATICS; i++)
            static_addr[i] = rt_py_symbol(statics[i].symbol);
        traceback_type = rt_py_symbol("PyTraceBack_Type");
    }
    stamp++;
    return table || grow() == 0 ? 0 : -1;
}

/* The kind of type t: a static type itself, the subclass flags, or the
 * first static type among its bases. */
static uint8_t kind_of(uintptr_t t, unsigned long flags)
{
    if (flags & F_LIST_SUBCLASS) return RT_PYK_LIST;
    if (flags & F_TUPLE_SUBCLASS) return RT_PYK_TUPLE;
    if (flags & F_DICT_SUBCLASS) return RT_PYK_DICT;
    if (flags & F_UNICODE_SUBCLASS) return RT_PYK_STR;
    if (flags & F_BYTES_SUBCLASS) return RT_PYK_BYTES;
    if (flags & F_LONG_SUBCLASS) return RT_PYK_INT;
    if (flags & RT_TPF_TYPE_SUBCLASS) return RT_PYK_TYPE;
    for (int depth = 0; t && depth < MAX_BASES; depth++) {
        for (size_t i = 0; i < NSTATICS; i++)
            if (static_addr[i] == t)
                return statics[i].kind;
        t = rt_peek_word(t + py->layout->objects->tp_base);
    }
    return RT_PYK_OTHER;
}

/* tp_flags of a ready type: no bit above 31 is defined (3.8-3.13). */
static int plausible_flags(unsigned long flags)
{
    return (flags & RT_TPF_READY) && !(flags >> 32);
}

/* A type whose instances are types (`type` or a metaclass), and whose own
 * type is one too: two levels, so that an arbitrary structure of pointers
 * does not pass for a type object by chance. */
static int is_metatype(uintptr_t meta)
{
    unsigned long f1 = 0, f2 = 0;
    uintptr_t mm = rt_peek_word(meta + 8);
    return rt_peek_all(&f1, meta + TP_FLAGS_OFF, sizeof f1) && plausible_flags(f1) &&
           (f1 & RT_TPF_TYPE_SUBCLASS) && rt_peek_all(&f2, mm + TP_FLAGS_OFF, sizeof f2) &&
           plausible_flags(f2) && (f2 & RT_TPF_TYPE_SUBCLASS);
}

/* Reads what the snapshot needs of the type object at t into e. */
static void validate(struct rt_pytype *e, uintptr_t t)
{
    const struct rt_py_objlayout *ol = py->layout->objects;
    uint8_t h[1024];
    e->is_type = 0;
    if (!ol) {
        /* no object layout: only the flags, which every version agrees on */
        e->is_type = rt_peek_all(&e->flags, t + TP_FLAGS_OFF, sizeof e->flags) &&
                     plausible_flags(e->flags) && is_metatype(rt_peek_word(t + 8));
        return;
    }
    if (ol->tp_end > sizeof h || !rt_peek_all(h, t, ol->tp_end))
        return;
    unsigned long flags;
    uintptr_t meta;
    memcpy(&flags, h + TP_FLAGS_OFF, sizeof flags);
    memcpy(&meta, h + 8, sizeof meta);
    if (!plausible_flags(flags) || !is_metatype(meta))
        return;
    struct rt_pytype v = {.addr = t, .flags = flags, .is_type = 1};
    memcpy(&v.name_ptr, h + ol->tp_name, 8);
    memcpy(&v.basicsize, h + ol->tp_basicsize, 8);
    memcpy(&v.itemsize, h + ol->tp_itemsize, 8);
    memcpy(&v.dictoffset, h + ol->tp_dictoffset, 8);
    memcpy(&v.weaklistoffset, h + ol->tp_weaklistoffset, 8);
    memcpy(&v.members, h + ol->tp_members, 8);
    uintptr_t del, fin;
    memcpy(&del, h + ol->tp_del, 8);
    memcpy(&fin, h + ol->tp_finalize, 8);
    v.finalizer = del || fin;
    if (v.basicsize < 16 || v.basicsize > (1 << 24) || v.itemsize < 0 || v.itemsize > (1 << 16) ||
        !v.name_ptr) {
        e->is_type = 0;
        return;
    }
    if ((flags & RT_TPF_HEAPTYPE) && ol->ht_cached_keys)
        v.cached_keys = rt_peek_word(t + ol->ht_cached_keys);
    v.kind = kind_of(t, flags);
    /* the same type as before, unless its address now holds another one
     * (the valid-version-tag bit comes and goes with the attribute cache) */
    int same = e->addr == t && e->id && e->name_ptr == v.name_ptr &&
               ((e->flags ^ v.flags) & ~F_VALID_VERSION) == 0 && e->basicsize == v.basicsize;
    v.id = same ? e->id : 0;
    v.sent = same ? e->sent : 0;
    *e = v;
}

const struct rt_pytype *rt_pytype_get(uintptr_t t, int revalidate)
{
    if (!table || !t || (t & 7))
        return NULL;
    size_t i = slot_of(t, cap - 1);
    while (table[i].addr && table[i].addr != t)
        i = (i + 1) & (cap - 1);
    struct rt_pytype *e = &table[i];
    if (e->addr == t && (e->stamp == stamp || !revalidate))
        return e->is_type ? e : NULL;
    if (e->addr != t) {
        if ((count + 1) * 2 > cap) {
            if (grow() < 0)
                return NULL;
            return rt_pytype_get(t, revalidate);
        }
        count++;
    }
    validate(e, t);
    e->addr = t;
    e->stamp = stamp;
    return e->is_type ? e : NULL;
}

/* ---------------------------------------------------------------- sending */

struct blob {
    uint8_t b[BLOB_MAX];
    size_t n;
    uint32_t nfields;
};

static void put(struct blob *o, const void *p, size_t n)
{
    if (o->n + n <= sizeof o->b) {
        memcpy(o->b + o->n, p, n);
        o->n += n;
    }
}

static void field(struct blob *o, int64_t offset, const char *name)
{
    struct rt_blob_pyfield f = {(int32_t)offset, (uint32_t)strlen(name)};
    if (o->n + sizeof f + f.name_len > sizeof o->b)
        return;
    put(o, &f, sizeof f);
    put(o, name, f.name_len);
    o->nfields++;
}

/* The named fields every instance of a kind has (3.11 layout). */
static void kind_fields(struct blob *o, const struct rt_pytype *t)
{
    const struct rt_py_objlayout *ol = py->layout->objects;
    switch (t->kind) {
    case RT_PYK_CELL: field(o, ol->cell_ref, "cell_contents"); break;
    case RT_PYK_METHOD:
        field(o, ol->method_func, "__func__");
        field(o, ol->method_self, "__self__");
        break;
    case RT_PYK_MODULE:
        field(o, ol->module_dict, "__dict__");
        field(o, ol->module_name, "__name__");
        break;
    case RT_PYK_TYPE:
        field(o, ol->tp_dict, "__dict__");
        field(o, ol->tp_base, "__base__");
        field(o, ol->tp_mro, "__mro__");
        field(o, ol->ht_name, "__name__");
        field(o, ol->ht_qualname, "__qualname__");
        break;
    case RT_PYK_FUNCTION: {
        static const struct { size_t at; const char *name; } f[] = {
            {offsetof(struct rt_py_objlayout, func_globals), "__globals__"},
            {offsetof(struct rt_py_objlayout, func_name), "__name__"},
            {offsetof(struct rt_py_objlayout, func_qualname), "__qualname__"},
            {offsetof(struct rt_py_objlayout, func_code), "__code__"},
            {offsetof(struct rt_py_objlayout, func_defaults), "__defaults__"},
            {offsetof(struct rt_py_objlayout, func_kwdefaults), "__kwdefaults__"},
            {offsetof(struct rt_py_objlayout, func_closure), "__closure__"},
            {offsetof(struct rt_py_objlayout, func_doc), "__doc__"},
            {offsetof(struct rt_py_objlayout, func_dict), "__dict__"},
            {offsetof(struct rt_py_objlayout, func_module), "__module__"},
            {offsetof(struct rt_py_objlayout, func_annotations), "__annotations__"},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            field(o, *(const uint16_t *)((const char *)ol + f[i].at), f[i].name);
        break;
    }
    case RT_PYK_FRAME: field(o, ol->frame_back, "f_back"); break;
    default: break;
    }
    if (t->flags & F_EXC_SUBCLASS) {
        field(o, ol->exc_args, "args");
        field(o, ol->exc_traceback, "__traceback__");
        field(o, ol->exc_context, "__context__");
        field(o, ol->exc_cause, "__cause__");
    }
    if (t->addr == traceback_type) {
        field(o, ol->tb_next, "tb_next");
        field(o, ol->tb_frame, "tb_frame");
    }
}

/* __dict__, and the members that hold references (a class's __slots__). */
static void member_fields(struct blob *o, const struct rt_pytype *t)
{
    const struct rt_py_objlayout *ol = py->layout->objects;
    if (t->flags & RT_TPF_MANAGED_DICT)
        field(o, ol->pre_dict, "__dict__");
    else if (t->dictoffset > 0 && t->kind != RT_PYK_TYPE && t->kind != RT_PYK_FUNCTION &&
             t->kind != RT_PYK_MODULE)
        field(o, t->dictoffset, "__dict__");
    for (int i = 0; t->members && i < MAX_MEMBERS; i++) {
        uint8_t m[64];
        uintptr_t name;
        int type;
        int64_t off;
        if (ol->md_size > sizeof m || !rt_peek_all(m, t->members + (uintptr_t)i * ol->md_size, ol->md_size))
            break;
        memcpy(&name, m, 8);
        memcpy(&type, m + ol->md_type, sizeof type);
        memcpy(&off, m + ol->md_offset, 8);
        if (!name)
            break;
        char text[80];
        if ((type == T_OBJECT || type == T_OBJECT_EX) && c_string(name, text, sizeof text))
            field(o, off, text);
    }
}

/* The type's name: a class's __qualname__, else tp_name. */
static size_t type_name(const struct rt_pytype *t, char *buf, size_t cap)
{
    const struct rt_py_objlayout *ol = py->layout->objects;
    size_t n = 0;
    if (t->flags & RT_TPF_HEAPTYPE)
        n = rt_pytype_str(rt_peek_word(t->addr + ol->ht_qualname), 0, buf, cap);
    return n ? n : c_string(t->name_ptr, buf, cap);
}

uint32_t rt_pytype_id(const struct rt_pytype *tc)
{
    struct rt_pytype *t = (struct rt_pytype *)tc;
    if (!t->id)
        t->id = next_id++;
    if (t->sent)
        return t->id;
    static struct blob o;
    char name[160];
    struct rt_blob_pytype h = {
        .type_id = t->id, .kind = t->kind,
        .flags = ((t->flags & RT_TPF_HAVE_GC) ? RT_PYT_GC : 0) |
                 ((t->flags & RT_TPF_MANAGED_DICT) ? RT_PYT_MANAGED_DICT : 0) |
                 (t->finalizer ? RT_PYT_FINALIZER : 0) | ((t->flags & RT_TPF_HEAPTYPE) ? RT_PYT_HEAP : 0),
        .items_off = t->kind == RT_PYK_TUPLE ? py->layout->objects->tuple_items : 0,
    };
    h.name_len = (uint32_t)type_name(t, name, sizeof name);
    o.n = sizeof h;
    o.nfields = 0;
    put(&o, name, h.name_len);
    kind_fields(&o, t);
    member_fields(&o, t);
    h.nfields = o.nfields;
    memcpy(o.b, &h, sizeof h);
    rt_ring_push_blob(RT_BLOB_PYTYPE, o.b, (uint32_t)o.n);
    t->sent = 1;
    return t->id;
}
