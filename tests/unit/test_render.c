/* SPDX-License-Identifier: MIT
 *
 * test_render.c - the renderers' shared JSON string writer (report/render/
 * render.h, rep_json_puts), which every JSON heapgraph writes goes through:
 * escapes, control characters, UTF-8 kept when well formed and replaced
 * byte by byte when not (truncated, overlong, surrogate, above U+10FFFF,
 * stray continuation bytes). "</script>" passes unchanged: inside the HTML
 * page the escaping stream of html.c takes care of it (test_html).
 */
#include "report/render/render.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

/* What rep_json_puts writes for s. */
static char *json(const char *s)
{
    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    rep_json_puts(f, s);
    fclose(f);
    return out;
}

static void check_json(const char *s, const char *want)
{
    char *got = json(s);
    CHECK_STR(got, want);
    free(got);
}

static void test_escapes(void)
{
    check_json(NULL, "null");
    check_json("", "\"\"");
    check_json("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
    check_json("\x01\t\n\r\x1f\x7f", "\"\\u0001\\u0009\\u000a\\u000d\\u001f\\u007f\"");
    check_json("</script><!--", "\"</script><!--\"");
}

static void test_utf8(void)
{
    /* Well formed: 2, 3 and 4 bytes, the edges of each range. */
    check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_json("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf",
               "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"");
    /* Latin-1, a stray continuation byte, a truncated sequence at the end. */
    check_json("caf\xe9", "\"caf\\ufffd\"");
    check_json("a\x80" "b", "\"a\\ufffdb\"");
    check_json("\xe2\x82", "\"\\ufffd\\ufffd\"");
    /* Overlong forms, a UTF-16 surrogate, beyond U+10FFFF, 0xf5 and up. */
    check_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    check_json("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
    check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    check_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    check_json("\xf5\x80", "\"\\ufffd\\ufffd\"");
    /* A bad byte does not swallow the good character after it. */
    check_json("\xe2\x82\xe2\x82\xac", "\"\\ufffd\\ufffd\xe2\x82\xac\"");
}

int main(void)
{
    RUN(test_escapes);
    RUN(test_utf8);
    return DONE();
}
