/* rep_cxx_demangle: C++ frames are demangled and operator new[] is not shown
 * as the allocation site: the leak is attributed to geo::Mesh::add_points(int).
 *
 * expect: frames(leaks(0, "definite")[0])[0] == "geo::Mesh::add_points(int)"
 * expect: leaks(0, "definite")[0].bytes == 8 * 16 * 4 and leaks(0, "definite")[0].blocks == 4
 * expect: all(not f.startswith("operator new") for f in frames(leaks(0, "definite")[0]) if f)
 */
#include <cstdlib>

namespace geo {
struct Point { double x, y; };
struct Mesh {
    Point *last = nullptr;
    __attribute__((noinline)) void add_points(int n);
};
void Mesh::add_points(int n)
{
    last = new Point[n];
    last[0].x = n;
}
}

geo::Mesh *volatile sink;

int main()
{
    geo::Mesh m;
    sink = &m;
    for (int i = 0; i < 4; i++) {
        m.add_points(8);
        m.last = nullptr;
    }
    sink = nullptr;
    return 0;
}
