#pragma once
// Waiting for Ctrl-C or `kill` without a signal handler: the signals are blocked, so they stay
// pending, and one thread takes them with sigwait. Nothing runs in signal context, so shutdown
// code may lock, allocate and log.

#include <csignal>

namespace quotaflow::cli {

// Blocks SIGINT and SIGTERM in the calling thread and returns that set. Threads started
// afterwards inherit the mask, so call it before anything starts a thread: a thread that does not
// block them would be picked to receive them and the process would die by the default action.
// The signals stay blocked for the rest of the process (a second Ctrl-C during a graceful stop is
// ignored rather than killing the process halfway).
sigset_t BlockShutdownSignals();

// Blocks until one of `signals` is pending and takes it; returns its number.
int WaitForShutdownSignal(const sigset_t& signals);

}  // namespace quotaflow::cli
