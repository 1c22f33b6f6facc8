#include "cli/signals.h"

#include <pthread.h>

#include "core/check.h"

namespace quotaflow::cli {

sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  QF_CHECK(pthread_sigmask(SIG_BLOCK, &signals, nullptr) == 0);
  return signals;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int signal = 0;
  // sigwait fails only for an invalid set, which BlockShutdownSignals never returns.
  QF_CHECK(sigwait(&signals, &signal) == 0);
  return signal;
}

}  // namespace quotaflow::cli
