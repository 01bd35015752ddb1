// Small helpers shared by the `mneme bench` commands.
#ifndef MNEME_TOOLS_MNEME_BENCH_UTIL_H_
#define MNEME_TOOLS_MNEME_BENCH_UTIL_H_

#include <algorithm>
#include <vector>

namespace mneme::cli {

// The median of `v` (mean of the middle two for an even count); 0 for an empty vector.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace mneme::cli

#endif  // MNEME_TOOLS_MNEME_BENCH_UTIL_H_
