/* SPDX-License-Identifier: MIT
 *
 * rt_module.h - the module map: every loaded object (path, bias, PT_LOAD
 * segments, build-id) sent as RT_BLOB_MODULE when first seen and
 * RT_BLOB_MODULE_UNLOAD when gone, with ids never reused in a process image
 * and a generation counter that every load and unload advances. Also the
 * dlopen/dlclose hooks that keep it current.
 */
#ifndef HG_RT_MODULE_H
#define HG_RT_MODULE_H

#include <stdint.h>

/* Forgets every module (ids and generation start again) and sends the
 * current map: at init, the loaded objects; in a forked child
 * (`fork_child`), the map it inherited, without taking the loader's lock. */
void rt_modules_reset(int fork_child);

/* Compares the loaded objects with the map and sends the differences. */
void rt_modules_refresh(void);

/* Refreshes the map if some frame lies outside every known module (a
 * library loaded behind the runtime's back, or a constructor running inside
 * dlopen before the hook returned). Skipped when another refresh is under
 * way (a signal handler may have interrupted it). */
void rt_modules_cover(const uint64_t *frames, unsigned n);

/* The generation of the map as sent so far. */
uint32_t rt_modules_generation(void);

#endif
