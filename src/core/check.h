#pragma once
// QF_CHECK: a broken invariant crashes loudly, in every build type (likely failures are values,
// see quotaflow/error.h; this is for what must never happen).

#include <cstdio>
#include <cstdlib>

#define QF_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) [[unlikely]] {                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)
