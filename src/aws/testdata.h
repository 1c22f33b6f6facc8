#pragma once
// Tests only. Finds the shared test data (../shared/testdata: public vectors and recordings that
// live outside the repository). quotaflow_test() passes its location in QUOTAFLOW_SHARED. When it
// is missing a developer's run skips the conformance tests, but CI (CI=true) fails them, so that
// a broken checkout cannot pass CI by skipping.
//
//   TEST(Foo, MatchesVectors) {
//     QF_TESTDATA_DIR_OR_SKIP(dir, "eventstream/aws-sdk-go");
//     ... read files under dir ...
//   }

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace quotaflow::testdata {

// getenv is not thread-safe against setenv; tests read the environment before starting threads.
inline bool RunningInCi() {
  const char* ci = std::getenv("CI");  // NOLINT(concurrency-mt-unsafe)
  return ci != nullptr && std::string_view(ci) == "true";
}

// $QUOTAFLOW_SHARED, else <QUOTAFLOW_SOURCE_DIR>/../shared when the test target defines
// QUOTAFLOW_SOURCE_DIR (so that a binary run by hand finds it too), else empty.
inline std::string SharedDir() {
  const char* shared = std::getenv("QUOTAFLOW_SHARED");  // NOLINT(concurrency-mt-unsafe)
  if (shared != nullptr && *shared != '\0') {
    return shared;
  }
#ifdef QUOTAFLOW_SOURCE_DIR
  return QUOTAFLOW_SOURCE_DIR "/../shared";
#else
  return "";
#endif
}

// `<shared>/testdata/<relative>` if that directory exists.
inline std::optional<std::filesystem::path> FindDir(std::string_view relative) {
  const std::string shared = SharedDir();
  if (shared.empty()) return std::nullopt;
  std::filesystem::path dir = std::filesystem::path(shared) / "testdata" / relative;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return dir;
}

inline std::string MissingMessage(std::string_view relative) {
  const std::string shared = SharedDir();
  return "shared test data testdata/" + std::string(relative) + " not found in " +
         (shared.empty() ? std::string("(QUOTAFLOW_SHARED unset)") : shared) +
         "; ctest sets QUOTAFLOW_SHARED to <repo>/../shared, or set it when running by hand";
}

}  // namespace quotaflow::testdata

// Declares `std::filesystem::path var` = the test data directory `relative`, or ends the test:
// skipped normally, failed when CI=true. Use at the top of a TEST body (it may return).
// `var` is a declarator, which cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define QF_TESTDATA_DIR_OR_SKIP(var, relative)                                      \
  std::filesystem::path var;                                                        \
  if (auto qf_found_dir = ::quotaflow::testdata::FindDir(relative); qf_found_dir) { \
    var = *qf_found_dir;                                                            \
  } else if (::quotaflow::testdata::RunningInCi()) {                                \
    FAIL() << ::quotaflow::testdata::MissingMessage(relative) << " (CI=true)";      \
  } else                                                                            \
    GTEST_SKIP() << ::quotaflow::testdata::MissingMessage(relative)
// NOLINTEND(bugprone-macro-parentheses)
