/* SPDX-License-Identifier: MIT
 * empty.c - an empty translation unit: it keeps each host library a valid
 * CMake target while its module folder has no sources yet. */
typedef int hg_empty_translation_unit;
