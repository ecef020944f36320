/* rep_three_sites: allocation counts and bytes per site are exact, the sites
 * are named by the function that allocated, and temporaries are counted.
 * make_small: 1000 x malloc(24), kept (live at exit, held by a global);
 * make_medium: 300 x calloc(1, 1000), all freed at the end;
 * make_temp: 50 x malloc(7) freed at once by the same thread (temporaries).
 *
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] in ("make_small", "make_medium", "make_temp")] == [300, 1000, 50]
 * expect: [s.bytes for s in proc(0).sites if frames(s)[0] in ("make_small", "make_medium", "make_temp")] == [300000, 24000, 350]
 * expect: [s for s in proc(0).sites if frames(s)[0] == "make_small"][0].live_bytes == 24000
 * expect: [s for s in proc(0).sites if frames(s)[0] == "make_medium"][0].live_blocks == 0
 * expect: [s for s in proc(0).sites if frames(s)[0] == "make_temp"][0].temporary == 50
 * expect: frames(proc(0).sites_by_temporary[0])[0] == "make_temp"
 * expect: [s for s in proc(0).sites if frames(s)[0] == "make_medium"][0].peak_bytes == 300000
 * expect: proc(0).peak.bytes == 324007
 * expect: sum(l.bytes for l in proc(0).leaks if frames(l)[0] == "make_small") == 24000
 */
#include <stdlib.h>

void *small[1000];   /* not static: GCC may drop mallocs stored only into a static never read */
void *medium[300];
void *volatile sink;

__attribute__((noinline)) void make_small(int i)
{
    small[i] = malloc(24);
}

__attribute__((noinline)) void make_medium(int i)
{
    medium[i] = calloc(1, 1000);
}

__attribute__((noinline)) void make_temp(void)
{
    char *p = malloc(7);
    sink = p;
    free(p);
}

int main(void)
{
    for (int i = 0; i < 1000; i++)
        make_small(i);
    for (int i = 0; i < 300; i++)
        make_medium(i);
    for (int i = 0; i < 50; i++)
        make_temp();
    for (int i = 0; i < 300; i++)
        free(medium[i]);
    return 0;
}
