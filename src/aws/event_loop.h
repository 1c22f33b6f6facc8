#pragma once
// The one I/O thread of a quotaflow process: a libcurl multi loop (curl_multi_poll, woken by
// curl_multi_wakeup) with a timer heap beside it. HTTP transfers (http_client.h), the engine's
// "earliest start at T" timers and any work posted from other threads all run on this thread, so
// none of them needs a lock of its own.

#include <curl/curl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "quotaflow/clock.h"

namespace quotaflow::aws {

// Identifies an armed timer; 0 is never a valid id.
using TimerId = uint64_t;

// A curl transfer the loop drives. The loop calls OnTransferDone on its thread once curl reports
// the easy handle finished (CURLMSG_DONE); the owner then removes the handle.
class CurlTransfer {
 public:
  virtual void OnTransferDone(CURLcode result) = 0;

 protected:
  ~CurlTransfer() = default;
};

// Thread safety: Post, RunAt, Cancel, Wakeup and IsLoopThread are safe from any thread. Start and
// Stop are for the owning thread (never the loop thread). multi(), AddTransfer and RemoveTransfer
// are loop-thread only. Tasks and timer callbacks run on the loop thread, never under a lock of
// the loop's, so they may call back into it.
class EventLoop {
 public:
  // Settings of the multi handle's shared connection cache, which every transfer on this loop
  // shares (connection reuse is per host, across requests and HttpClients).
  struct Options {
    // CURLMOPT_MAX_HOST_CONNECTIONS. 0 = unlimited (curl's default): each HTTP/1.1 request in
    // flight gets its own connection. A limit queues requests inside curl instead, which bounds
    // sockets and TLS handshakes but adds waiting time; with HTTP/2 the connections multiplex.
    int max_host_connections = 0;
    // CURLMOPT_MAX_TOTAL_CONNECTIONS. 0 = unlimited.
    int max_total_connections = 0;
    // CURLMOPT_MAXCONNECTS: idle connections kept for reuse. 0 = curl's default (4 per transfer
    // added, so a burst of N requests can keep ~4N alive).
    int max_cached_connections = 0;
    // CURLMOPT_MAX_CONCURRENT_STREAMS: our cap on HTTP/2 streams per connection (the server's
    // SETTINGS can lower it). More streams, fewer connections; one slow connection stalls more.
    int max_concurrent_streams = 100;
    // CURLPIPE_MULTIPLEX: run concurrent HTTP/2 requests to one host as streams of one connection.
    bool multiplex = true;
  };

  // `clock` times the timers (SystemClock in production; a FakeClock in tests, which then call
  // Wakeup after moving it). REQUIRES: `clock` outlives the loop.
  explicit EventLoop(Clock& clock) : EventLoop(clock, Options()) {}
  EventLoop(Clock& clock, const Options& options);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  // Stops the loop if it runs. Timers still armed are dropped unrun.
  // REQUIRES: every transfer was removed (HttpClients on this loop are destroyed first).
  ~EventLoop();

  // Starts the loop thread. Tasks and timers armed before Start run once it starts.
  // REQUIRES: called once.
  void Start();
  // Runs every task accepted before the call, then ends the loop thread and joins it. Idempotent.
  // Transfers still in flight stay attached, unfinished, until their owner removes them. On a loop
  // that never started, queued tasks are dropped unrun.
  // REQUIRES: not on the loop thread.
  void Stop();

  // Runs `fn` on the loop thread, in the order of Post calls from any one thread. Returns false,
  // and drops `fn` unrun, once Stop has begun: every accepted task runs exactly once.
  bool Post(std::function<void()> fn);

  // Runs `fn` on the loop thread once clock.Now() >= when (a past `when` means at the next turn).
  // Timers fire in (when, arming order), never before `when`; the loop sleeps exactly until the
  // earliest one (a timerfd beside curl's sockets), so one fires within tens of microseconds of its
  // deadline when the machine is not overloaded. O(log n) to arm and to fire.
  TimerId RunAt(SteadyTime when, std::function<void()> fn);
  // Returns true if the timer was armed and will now never run; false if it already ran (or is
  // running on the loop thread right now), was cancelled, or never existed. On the loop thread a
  // true answer is exact: even a timer due in this same turn will not run.
  bool Cancel(TimerId id);

  // Makes the loop re-read the clock and its queues now. Only a FakeClock needs it (after
  // Advance); real time, Post and RunAt wake the loop by themselves.
  void Wakeup();

  bool IsLoopThread() const {
    return loop_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }
  Clock& clock() const { return clock_; }

  // The loop's multi handle, for setting options. Loop thread only (or before Start).
  CURLM* multi() const { return multi_; }
  // Adds `easy` to the multi handle; the loop calls `transfer->OnTransferDone` when it finishes.
  // Returns curl's refusal, if any. REQUIRES: loop thread, and not inside a curl callback.
  CURLMcode AddTransfer(CURL* easy, CurlTransfer* transfer);
  // Detaches `easy` (finished or not) so that it can be cleaned up or reused.
  // REQUIRES: loop thread, `easy` was added, and not inside a curl callback.
  void RemoveTransfer(CURL* easy);

 private:
  struct TimerEntry {
    SteadyTime when;
    TimerId id;  // ids grow with arming order, so they break ties between equal deadlines
    bool operator>(const TimerEntry& other) const {
      return when != other.when ? when > other.when : id > other.id;
    }
  };

  void Run();
  // Runs the queued tasks; returns false once Stop has begun (after running them).
  bool RunTasks();
  void RunDueTimers();
  void DispatchFinishedTransfers();
  // Sleeps in curl_multi_poll until socket activity, a wakeup, or the earliest timer (not at all
  // if tasks wait).
  void Poll();
  // Drops heap entries of cancelled timers once they are most of the heap. REQUIRES: mu_ held.
  void MaybeCompactTimers();

  Clock& clock_;
  CURLM* const multi_;
  CURLSH* const share_;  // TLS sessions, shared by every transfer (resumption on new connections)
  const int timer_fd_;   // wakes the poll at the earliest timer, to the microsecond
  std::optional<SteadyTime> timer_armed_for_;  // the deadline timer_fd_ is set to; loop thread only
  std::thread thread_;                         // set by Start, joined by Stop; owning thread only
  std::atomic<std::thread::id> loop_thread_{};
  int transfers_ = 0;                         // attached easy handles; loop thread only
  std::vector<std::function<void()>> batch_;  // the tasks being run; loop thread only

  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  // Min-heap over (when, id); entries of cancelled timers stay until popped or compacted.
  std::vector<TimerEntry> timer_heap_;                            // guarded by mu_
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;  // armed timers; guarded by mu_
  TimerId next_timer_id_ = 1;                                     // guarded by mu_
};

}  // namespace quotaflow::aws
