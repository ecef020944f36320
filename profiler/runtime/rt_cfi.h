/* SPDX-License-Identifier: MIT
 *
 * rt_cfi.h - the unwind rule of one return address, decoded from the
 * .eh_frame of the object that holds it (found through .eh_frame_hdr).
 * Only the rules ordinary compiled code has on x86-64 are expressed: the
 * CFA is the stack pointer or the frame pointer plus an offset, the return
 * address is saved at CFA - 8, the frame pointer at CFA + an offset or not
 * at all. Anything else (expressions, signal frames, no FDE) is "cannot",
 * and the unwinder hands the stack to libunwind.
 */
#ifndef HG_RT_CFI_H
#define HG_RT_CFI_H

#include <stdint.h>

enum {
    RT_CFI_BP = 1,       /* CFA = rbp + cfa_off (else rsp + cfa_off) */
    RT_CFI_SAVES_BP = 2, /* the caller's rbp is at CFA + bp_off */
    RT_CFI_END = 4,      /* the return address is undefined: the outermost frame */
    RT_CFI_OK = 8,       /* the rule is known; without it, ask libunwind */
    RT_CFI_CALLER = 16,  /* free for the caller's own marks (rt_unwind.c) */
};

struct rt_cfi_rule {
    int32_t cfa_off;
    int16_t bp_off;
    uint16_t how; /* RT_CFI_* */
};

/* The rule in force at the call before return address `ra` (so at ra - 1).
 * Never allocates and takes no lock: safe inside a hook. */
struct rt_cfi_rule rt_cfi_rule(uint64_t ra);

#endif
