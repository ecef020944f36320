/* SPDX-License-Identifier: MIT
 *
 * conf.h - the .heapgraph.conf file: default options for `check` and
 * `report` in INI form, so a project keeps its gates and suppression files
 * in the repository instead of in every CI script:
 *
 *     # comment (also ';')
 *     [check]
 *     max-leaked = 0
 *     max-peak = 64MiB
 *     suppressions = ci/heapgraph.supp
 *     [report]
 *     suppressions = ci/heapgraph.supp
 *
 * Keys are the long option names of the command (without "--"); a flag
 * option takes "true" or "false". The file is looked up as ./.heapgraph.conf,
 * then $XDG_CONFIG_HOME/heapgraph/heapgraph.conf (~/.config when
 * XDG_CONFIG_HOME is unset); the first found is used. Commands resolve the
 * paths of input files (suppressions, baseline) against the directory of the
 * file with cmd_conf_path(). The command line wins.
 */
#ifndef HG_CMD_CONF_H
#define HG_CMD_CONF_H

#include <stddef.h>

struct cmd_conf_entry {
    char *section;     /* "" before any [section] */
    char *key;
    char *value;
    unsigned line;
};

struct cmd_conf {
    char *path;        /* the file read */
    char *dir;         /* its directory, for relative paths */
    size_t n;
    struct cmd_conf_entry *e;
};

#define CMD_CONF_INIT {NULL, NULL, 0, NULL}

/* Finds the file as described above. Returns a malloc'd path (caller
 * frees) or NULL when there is none. */
char *cmd_conf_find(void);

/* Reads path, a regular file of at most CMD_CONF_MAX_FILE bytes. Returns 0,
 * or -1 + err ("PATH:LINE: ..."). */
#define CMD_CONF_MAX_FILE ((size_t)64 << 10)
int cmd_conf_load(struct cmd_conf *c, const char *path, char *err, size_t errlen);
/* Parses text as if read from path (used by cmd_conf_load and tests). */
int cmd_conf_parse(struct cmd_conf *c, const char *text, const char *path,
                   char *err, size_t errlen);
void cmd_conf_release(struct cmd_conf *c);

/* Resolves a path value against the file's directory: returns a malloc'd
 * string (caller frees), NULL when out of memory. */
char *cmd_conf_path(const struct cmd_conf *c, const char *value);

#endif
