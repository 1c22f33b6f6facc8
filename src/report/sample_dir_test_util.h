#pragma once
// Tests only. Where the report tests draw their charts: the directory named by
// $QUOTAFLOW_CHART_SAMPLES when it is set, to keep the pictures and look at them, else `fallback`
// (a temporary directory).

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace quotaflow::report {

inline std::filesystem::path SampleDir(const std::filesystem::path& fallback) {
  // getenv is not thread-safe against setenv; the tests read it before starting threads.
  const char* keep = std::getenv("QUOTAFLOW_CHART_SAMPLES");  // NOLINT(concurrency-mt-unsafe)
  if (keep == nullptr || *keep == '\0') return fallback;
  std::error_code ec;
  std::filesystem::create_directories(keep, ec);
  return keep;
}

}  // namespace quotaflow::report
