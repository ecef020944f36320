/* SPDX-License-Identifier: MIT
 *
 * conf.c - reading .heapgraph.conf (see conf.h). The reader only splits the
 * file into (section, key, value) entries; the commands check keys against
 * their own option tables, so a key is valid exactly when the option is.
 */
#include "cmd/conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/model/infile.h"

char *cmd_conf_find(void)
{
    char *p = NULL;
    if (access(".heapgraph.conf", F_OK) == 0)
        return strdup(".heapgraph.conf");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg)
        n = asprintf(&p, "%s/heapgraph/heapgraph.conf", xdg);
    else if (home && *home)
        n = asprintf(&p, "%s/.config/heapgraph/heapgraph.conf", home);
    else
        return NULL;
    if (n < 0)
        return NULL;
    if (access(p, F_OK) == 0)
        return p;
    free(p);
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static int add(struct cmd_conf *c, const char *section, const char *key, const char *value,
               unsigned line)
{
    struct cmd_conf_entry *e = realloc(c->e, (c->n + 1) * sizeof *e);
    if (!e)
        return -1;
    c->e = e;
    e = &c->e[c->n];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = line;
    c->n++;
    return e->section && e->key && e->value ? 0 : -1;
}

static int set_path(struct cmd_conf *c, const char *path)
{
    c->path = strdup(path);
    const char *slash = strrchr(path, '/');
    c->dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    return c->path && c->dir ? 0 : -1;
}

int cmd_conf_parse(struct cmd_conf *c, const char *text, const char *path,
                   char *err, size_t errlen)
{
    char *copy = strdup(text), *section = "";
    unsigned lineno = 0;
    int ret = 0;
    if (!copy || set_path(c, path) < 0) {
        free(copy);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (char *line = copy, *next; line && ret == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        size_t n = strlen(s);
        if (*s == '[' && s[n - 1] == ']') {
            s[n - 1] = 0;
            section = trim(s + 1);
        } else if (!eq || eq == s) {
            snprintf(err, errlen, "%s:%u: expected [section] or key = value", path, lineno);
            ret = -1;
        } else {
            *eq = 0;
            if (add(c, section, trim(s), trim(eq + 1), lineno) < 0) {
                snprintf(err, errlen, "%s: out of memory", path);
                ret = -1;
            }
        }
    }
    free(copy);
    return ret;
}

int cmd_conf_load(struct cmd_conf *c, const char *path, char *err, size_t errlen)
{
    char *text = rep_read_text(path, CMD_CONF_MAX_FILE, err, errlen);
    int ret = text ? cmd_conf_parse(c, text, path, err, errlen) : -1;
    free(text);
    return ret;
}

void cmd_conf_release(struct cmd_conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].section);
        free(c->e[i].key);
        free(c->e[i].value);
    }
    free(c->e);
    free(c->path);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

char *cmd_conf_path(const struct cmd_conf *c, const char *value)
{
    char *p;
    if (value[0] == '/' || !c->dir || !strcmp(c->dir, "."))
        return strdup(value);
    return asprintf(&p, "%s/%s", c->dir, value) < 0 ? NULL : p;
}
