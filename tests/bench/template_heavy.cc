// A template-heavy translation unit for docs/benchmarks.md ("Report sizes of
// runs with many processes"): compiling it is a g++ process tree (the
// driver, cc1plus, as) whose compiler makes millions of allocations.
#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

template <int N> struct fib { static constexpr long v = fib<N - 1>::v + fib<N - 2>::v; };
template <> struct fib<0> { static constexpr long v = 0; };
template <> struct fib<1> { static constexpr long v = 1; };

template <typename... T> struct bag {
    std::tuple<std::vector<T>...> parts;
    std::map<std::string, std::variant<T...>> named;
};

template <typename K, typename V>
std::unordered_map<K, std::vector<V>> group(const std::vector<std::pair<K, V>> &in)
{
    std::unordered_map<K, std::vector<V>> out;
    for (auto &p : in)
        out[p.first].push_back(p.second);
    return out;
}

int main()
{
    bag<int, double, std::string, long, char> b;
    std::get<0>(b.parts).push_back(fib<40>::v);
    std::vector<std::pair<std::string, int>> v{{"a", 1}, {"b", 2}, {"a", 3}};
    auto g = group(v);
    std::regex re("[a-z]+[0-9]*");
    std::ostringstream os;
    for (auto &[k, xs] : g)
        os << k << std::count_if(xs.begin(), xs.end(), [](int x) { return x > 1; });
    std::function<int(int)> f = [&](int x) { return x ? x * f(x - 1) : 1; };
    std::cout << os.str() << f(5) << std::regex_match("abc1", re) << '\n';
    auto p = std::make_shared<bag<float, unsigned>>();
    return p ? 0 : 1;
}
