/* unwind_libunwind: the program of unwind_shapes.c recorded with
 * HEAPGRAPH_UNWIND=libunwind, the escape hatch that never uses the runtime's
 * own walker: the report must be the same.
 * env: HEAPGRAPH_UNWIND=libunwind
 * expect: proc(0).summary.definite.blocks == 9
 * expect: proc(0).summary.definite.bytes == 9 * 40
 * expect: any(frames(l)[:3] == ["leaf", "vla_user", "main"] for l in leaks(0, "definite"))
 * expect: any(frames(l)[:3] == ["leaf", "fp_user", "main"] for l in leaks(0, "definite"))
 * expect: any(len(frames(l)) == 64 and frames(l)[0] == "leaf" and set(frames(l)[1:]) == {"deep"} for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "cmp"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "on_signal"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "thread_fn"] for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "on_alt"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:3] == ["leaf", "again", "main"] and l.blocks == 2 for l in leaks(0, "definite"))
 */
#include "unwind_shapes.c"
