/* SPDX-License-Identifier: MIT
 *
 * fix_cc.cc - the C++ part of test_symbolize's fixture library: a function
 * template in a namespace, whose demangled name the symbolizer must give
 * exactly ("int fixture::twice<int>(int)"), and a namespaced global.
 */

extern "C" void fx_record(void);
extern "C" unsigned fx_line_twice;

unsigned fx_line_twice;

namespace fixture {

long counters[4];

template <typename T> __attribute__((noinline)) T twice(T x)
{
    fx_record(); fx_line_twice = __LINE__;
    return x * 2;
}

template int twice<int>(int);

} // namespace fixture

extern "C" int fx_call_twice(int x)
{
    return fixture::twice(x);
}

extern "C" void *fx_twice_addr(void)
{
    return reinterpret_cast<void *>(&fixture::twice<int>);
}

extern "C" void *fx_counters_addr(void)
{
    return &fixture::counters[2];
}
