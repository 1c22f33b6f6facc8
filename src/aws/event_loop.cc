#include "aws/event_loop.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "core/check.h"

namespace quotaflow::aws {
namespace {

// Longest single poll. curl shortens it for its own timeouts, and Post, RunAt and Wakeup interrupt
// it, so the value only bounds how long a lost wakeup could hide.
constexpr int kMaxPollMs = 60'000;
// Below this many heap entries a cancelled timer costs less than a rebuild.
constexpr size_t kMinHeapToCompact = 64;

CURLM* NewMulti() {
  // curl_global_init must run once before any other curl call; a function-local static makes the
  // first EventLoop do it even when loops are built on several threads.
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  QF_CHECK(initialized);
  CURLM* multi = curl_multi_init();
  QF_CHECK(multi != nullptr);
  return multi;
}

CURLSH* NewShare() {
  CURLSH* share = curl_share_init();
  QF_CHECK(share != nullptr);
  // No lock callbacks: only the loop thread ever touches the transfers that use it.
  QF_CHECK(curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK);
  return share;
}

}  // namespace

EventLoop::EventLoop(Clock& clock, const Options& options)
    : clock_(clock),
      multi_(NewMulti()),
      share_(NewShare()),
      timer_fd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  QF_CHECK(timer_fd_ >= 0);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING,
                    options.multiplex ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                    static_cast<long>(options.max_host_connections));
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                    static_cast<long>(options.max_total_connections));
  if (options.max_cached_connections > 0) {
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(options.max_cached_connections));
  }
  curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS,
                    static_cast<long>(options.max_concurrent_streams));
}

EventLoop::~EventLoop() {
  Stop();
  QF_CHECK(transfers_ == 0);
  curl_multi_cleanup(multi_);
  curl_share_cleanup(share_);
  close(timer_fd_);
}

void EventLoop::Start() {
  {
    std::lock_guard lock(mu_);
    QF_CHECK(!stopping_);
  }
  QF_CHECK(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

void EventLoop::Stop() {
  QF_CHECK(!IsLoopThread());
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_);
  if (thread_.joinable()) thread_.join();
  loop_thread_.store(std::thread::id(), std::memory_order_release);
}

bool EventLoop::Post(std::function<void()> fn) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    // Only the first task of a batch needs a wakeup: the loop takes the whole queue at once.
    wake = tasks_.empty();
    tasks_.push_back(std::move(fn));
  }
  // The loop thread looks at the queue before it polls, so it needs no wakeup.
  if (wake && !IsLoopThread()) curl_multi_wakeup(multi_);
  return true;
}

TimerId EventLoop::RunAt(SteadyTime when, std::function<void()> fn) {
  QF_CHECK(fn != nullptr);
  TimerId id = 0;
  bool earliest = false;
  {
    std::lock_guard lock(mu_);
    id = next_timer_id_++;
    timer_fns_.emplace(id, std::move(fn));
    timer_heap_.push_back(TimerEntry{when, id});
    std::push_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
    earliest = timer_heap_.front().id == id;
  }
  // A poll already asleep would otherwise sleep past the new deadline.
  if (earliest && !IsLoopThread()) curl_multi_wakeup(multi_);
  return id;
}

bool EventLoop::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  if (timer_fns_.erase(id) == 0) return false;
  MaybeCompactTimers();
  return true;
}

void EventLoop::MaybeCompactTimers() {
  if (timer_heap_.size() < kMinHeapToCompact || timer_heap_.size() < 2 * timer_fns_.size()) return;
  std::erase_if(timer_heap_, [this](const TimerEntry& e) { return !timer_fns_.contains(e.id); });
  std::make_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
}

void EventLoop::Wakeup() { curl_multi_wakeup(multi_); }

CURLMcode EventLoop::AddTransfer(CURL* easy, CurlTransfer* transfer) {
  QF_CHECK(IsLoopThread() || !thread_.joinable());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, static_cast<void*>(transfer));
  curl_easy_setopt(easy, CURLOPT_SHARE, share_);
  CURLMcode code = curl_multi_add_handle(multi_, easy);
  if (code == CURLM_OK) ++transfers_;
  return code;
}

void EventLoop::RemoveTransfer(CURL* easy) {
  QF_CHECK(IsLoopThread() || !thread_.joinable());
  QF_CHECK(curl_multi_remove_handle(multi_, easy) == CURLM_OK);
  --transfers_;
}

void EventLoop::Run() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  while (RunTasks()) {
    RunDueTimers();
    int running = 0;
    curl_multi_perform(multi_, &running);
    DispatchFinishedTransfers();
    Poll();
  }
}

bool EventLoop::RunTasks() {
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    // Swapping hands the queue's capacity back and forth: no allocation once warm.
    batch_.swap(tasks_);
    stopping = stopping_;
  }
  for (auto& fn : batch_) {
    if (fn) fn();
  }
  batch_.clear();
  return !stopping;
}

void EventLoop::RunDueTimers() {
  const SteadyTime now = clock_.Now();
  TimerId first_new_id = 0;
  {
    std::lock_guard lock(mu_);
    first_new_id = next_timer_id_;
  }
  // One timer per lock, run outside it: a callback may arm or cancel timers, and a cancel of a
  // timer due later in this same turn must hold. Timers armed by these callbacks wait for the next
  // turn, so a callback that re-arms itself in the past cannot starve the sockets.
  while (true) {
    std::function<void()> fn;
    {
      std::lock_guard lock(mu_);
      while (!timer_heap_.empty()) {
        const TimerEntry top = timer_heap_.front();
        if (top.when > now || top.id >= first_new_id) break;
        std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
        timer_heap_.pop_back();
        auto it = timer_fns_.find(top.id);
        if (it == timer_fns_.end()) continue;  // cancelled
        fn = std::move(it->second);
        timer_fns_.erase(it);
        break;
      }
    }
    if (!fn) return;
    fn();
  }
}

void EventLoop::DispatchFinishedTransfers() {
  int pending = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &pending)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // Copy out first: the owner removes the handle, which frees `msg`.
    const CURLcode result = msg->data.result;
    char* transfer = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &transfer);
    QF_CHECK(transfer != nullptr);
    static_cast<CurlTransfer*>(static_cast<void*>(transfer))->OnTransferDone(result);
  }
}

void EventLoop::Poll() {
  std::optional<SteadyTime> earliest;  // the next timer's deadline, if any
  Duration wait = Duration::zero();
  {
    std::lock_guard lock(mu_);
    if (tasks_.empty() && !stopping_) {
      while (!timer_heap_.empty() && !timer_fns_.contains(timer_heap_.front().id)) {
        std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
        timer_heap_.pop_back();
      }
      if (timer_heap_.empty()) {
        wait = std::chrono::milliseconds(kMaxPollMs);
      } else {
        earliest = timer_heap_.front().when;
        wait = std::max(Duration::zero(), *earliest - clock_.Now());
      }
    }
  }
  // curl_multi_poll counts in whole milliseconds: rounded up, a timer would fire up to 1 ms late.
  // The timerfd beside the sockets wakes the poll at the deadline itself, and is re-armed only
  // when the earliest deadline changes.
  curl_waitfd timer{timer_fd_, CURL_WAIT_POLLIN, 0};
  unsigned extra_fds = 0;
  if (earliest && wait > Duration::zero()) {
    if (timer_armed_for_ != *earliest) {
      itimerspec spec{};
      spec.it_value.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
      spec.it_value.tv_nsec = (wait % std::chrono::seconds(1)).count();
      QF_CHECK(timerfd_settime(timer_fd_, 0, &spec, nullptr) == 0);
      timer_armed_for_ = *earliest;
    }
    extra_fds = 1;
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  curl_multi_poll(multi_, &timer, extra_fds, static_cast<int>(std::min<int64_t>(ms, kMaxPollMs)),
                  nullptr);
  if ((timer.revents & CURL_WAIT_POLLIN) != 0) {
    uint64_t expirations = 0;
    (void)!read(timer_fd_, &expirations, sizeof expirations);  // clears readability
    timer_armed_for_.reset();
  }
}

}  // namespace quotaflow::aws
