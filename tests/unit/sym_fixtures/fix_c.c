/* SPDX-License-Identifier: MIT
 *
 * fix_c.c - fixture of test_symbolize, built -O2 -g into libsymfix.so (and
 * the stripped, debuglink and other-build-id copies made from it). The test
 * dlopen()s the library, calls these functions and symbolizes the return
 * addresses that fx_record() saves. Each fx_line_* is assigned __LINE__ on
 * the same line as the call whose return address is saved, so the expected
 * line numbers come from the compiler, not from the test.
 */

volatile int fx_sink;
void *fx_ret;                   /* the return address fx_record() last saw */
unsigned fx_line_caller, fx_line_inline, fx_line_outer, fx_line_labelled;
int g_cache[16];                /* a global, named by sym_data_symbol */
static char fx_local_table[64]; /* a static, only in .symtab */
__thread long fx_tls_counter[4]; /* thread-local, named by sym_tls_symbol */

__attribute__((noinline)) void fx_record(void)
{
    fx_ret = __builtin_return_address(0);
    fx_sink++;
}

/* A plain call: the return address is in fx_caller at fx_line_caller. */
__attribute__((noinline)) void fx_caller(void)
{
    fx_record(); fx_line_caller = __LINE__;
    fx_sink++;
}

static inline __attribute__((always_inline)) void fx_inl(void)
{
    fx_record(); fx_line_inline = __LINE__;
    fx_sink++;
}

/* An inlined call: two frames, fx_inl at fx_line_inline (inlined), then
   fx_outer at fx_line_outer. */
__attribute__((noinline)) void fx_outer(void)
{
    fx_inl(); fx_line_outer = __LINE__;
    fx_sink++;
}

/* An assembler label, as glibc's __GI_ aliases: DWARF's linkage name is the
   label, the symbolizer must give the C name. */
void fx_labelled(void) __asm__("fx_asm_label");

__attribute__((noinline)) void fx_labelled(void)
{
    fx_record(); fx_line_labelled = __LINE__;
    fx_sink++;
}

/* Not exported: a stripped copy has no name for it at all. */
static __attribute__((noinline)) void fx_hidden(void)
{
    fx_sink++;
}

void *fx_hidden_addr(void)
{
    fx_hidden();
    return (void *)fx_hidden;
}

void *fx_local_table_addr(void)
{
    return fx_local_table + 5;
}

void *fx_tls_addr(void)
{
    return &fx_tls_counter[2];
}
