/* SPDX-License-Identifier: MIT
 *
 * fix_cc.cc - the C++ part of test_symbolize's fixture library: a function
 * template in a namespace, whose demangled name the symbolizer must give
 * exactly ("int fixture::twice<int>(int)"), functions of internal linkage,
 * which GCC's DWARF names without namespaces (no linkage name), and a
 * namespaced global.
 */

extern "C" void fx_record(void);
extern "C" unsigned fx_line_twice, fx_line_anon, fx_line_inl_cc;

unsigned fx_line_twice, fx_line_anon, fx_line_inl_cc;

/* clang gives internal-linkage functions a linkage name (so their frames
   come demangled, with parameters); GCC does not. */
extern "C" const int fx_internal_linkage_names;
#ifdef __clang__
const int fx_internal_linkage_names = 1;
#else
const int fx_internal_linkage_names = 0;
#endif

namespace fixture {

long counters[4];

template <typename T> __attribute__((noinline)) T twice(T x)
{
    fx_record(); fx_line_twice = __LINE__;
    return x * 2;
}

template int twice<int>(int);

namespace {

__attribute__((noinline)) int anon_step(int x)
{
    fx_record(); fx_line_anon = __LINE__;
    return x + 1;
}

} // namespace

static inline __attribute__((always_inline)) int inl_step(int x)
{
    fx_record(); fx_line_inl_cc = __LINE__;
    return x + 2;
}

} // namespace fixture

extern "C" int fx_call_twice(int x)
{
    return fixture::twice(x);
}

extern "C" int fx_call_anon(int x)
{
    return fixture::anon_step(x) * 2;
}

extern "C" int fx_call_inl_cc(int x)
{
    return fixture::inl_step(x) * 3;
}

extern "C" void *fx_twice_addr(void)
{
    return reinterpret_cast<void *>(&fixture::twice<int>);
}

extern "C" void *fx_counters_addr(void)
{
    return &fixture::counters[2];
}
