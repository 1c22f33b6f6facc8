#include "aws/event_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace quotaflow::aws {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: the suite also runs under ThreadSanitizer on two shared cores.
constexpr auto kWait = seconds(60);

// Waits until the loop has run everything due at the fake clock's current time: a timer armed at
// that same instant fires after every timer due by then (ties fire in arming order).
void RunDueTimers(EventLoop& loop) {
  std::promise<void> done;
  loop.RunAt(loop.clock().Now(), [&done] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
}

void Drain(EventLoop& loop) {
  std::promise<void> done;
  ASSERT_TRUE(loop.Post([&done] { done.set_value(); }));
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
}

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_.Start(); }

  FakeClock clock_;
  std::vector<int> fired_;  // loop thread only, read by the test after a RunDueTimers/Drain
  EventLoop loop_{clock_};  // last: stopped before what its callbacks touch is destroyed
};

TEST_F(EventLoopTest, TimersFireInDeadlineOrder) {
  const SteadyTime t0 = clock_.Now();
  for (int ms : {30, 10, 50, 20, 40}) {
    loop_.RunAt(t0 + milliseconds(ms), [this, ms] { fired_.push_back(ms); });
  }
  clock_.Advance(milliseconds(50));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{10, 20, 30, 40, 50}));
}

TEST_F(EventLoopTest, TimersWithEqualDeadlinesFireInArmingOrder) {
  const SteadyTime at = clock_.Now() + milliseconds(5);
  for (int i = 0; i < 5; ++i) loop_.RunAt(at, [this, i] { fired_.push_back(i); });
  clock_.Advance(milliseconds(5));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(EventLoopTest, TimerDoesNotFireBeforeItsDeadline) {
  loop_.RunAt(clock_.Now() + milliseconds(10), [this] { fired_.push_back(10); });
  clock_.Advance(milliseconds(9));
  RunDueTimers(loop_);
  EXPECT_TRUE(fired_.empty());
  clock_.Advance(milliseconds(1));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{10}));
}

TEST_F(EventLoopTest, PastDeadlineFiresAtTheNextTurn) {
  loop_.RunAt(clock_.Now() - seconds(1), [this] { fired_.push_back(1); });
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{1}));
}

TEST_F(EventLoopTest, CancelledTimerNeverFires) {
  const SteadyTime t0 = clock_.Now();
  loop_.RunAt(t0 + milliseconds(1), [this] { fired_.push_back(1); });
  const TimerId cancelled = loop_.RunAt(t0 + milliseconds(2), [this] { fired_.push_back(2); });
  loop_.RunAt(t0 + milliseconds(3), [this] { fired_.push_back(3); });
  EXPECT_TRUE(loop_.Cancel(cancelled));
  EXPECT_FALSE(loop_.Cancel(cancelled));  // once only
  clock_.Advance(milliseconds(3));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{1, 3}));
}

TEST_F(EventLoopTest, CancelAfterFiringReturnsFalse) {
  const TimerId id = loop_.RunAt(clock_.Now(), [this] { fired_.push_back(1); });
  RunDueTimers(loop_);
  EXPECT_FALSE(loop_.Cancel(id));
  EXPECT_FALSE(loop_.Cancel(0));
  EXPECT_FALSE(loop_.Cancel(123456));
}

TEST_F(EventLoopTest, TimerCancelledByAnEarlierTimerOfTheSameTurnDoesNotFire) {
  const SteadyTime t0 = clock_.Now();
  TimerId second = 0;
  // Both are due in the same turn; the first cancels the second on the loop thread.
  loop_.RunAt(t0 + milliseconds(1), [&] {
    fired_.push_back(1);
    EXPECT_TRUE(loop_.Cancel(second));
  });
  second = loop_.RunAt(t0 + milliseconds(2), [this] { fired_.push_back(2); });
  clock_.Advance(milliseconds(2));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{1}));
}

TEST_F(EventLoopTest, TimerCallbackCanArmTimers) {
  const SteadyTime t0 = clock_.Now();
  loop_.RunAt(t0, [this, t0] {
    fired_.push_back(0);
    loop_.RunAt(t0 + milliseconds(5), [this] { fired_.push_back(5); });
    // In the past: runs at the next turn, not in this one, so a re-arming timer cannot starve I/O.
    loop_.RunAt(t0, [this] { fired_.push_back(1); });
  });
  RunDueTimers(loop_);
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{0, 1}));
  clock_.Advance(milliseconds(5));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{0, 1, 5}));
}

TEST_F(EventLoopTest, ManyCancelledTimersAreCompactedAway) {
  const SteadyTime t0 = clock_.Now();
  std::vector<TimerId> ids;
  ids.reserve(10'000);
  for (int i = 0; i < 10'000; ++i) {
    ids.push_back(loop_.RunAt(t0 + seconds(1) + milliseconds(i), [this] { fired_.push_back(-1); }));
  }
  loop_.RunAt(t0 + seconds(20), [this] { fired_.push_back(20); });
  for (TimerId id : ids) EXPECT_TRUE(loop_.Cancel(id));
  clock_.Advance(seconds(20));
  RunDueTimers(loop_);
  EXPECT_EQ(fired_, (std::vector<int>{20}));
}

TEST_F(EventLoopTest, PostFromManyThreadsRunsEachTaskOnceOnTheLoopInPerThreadOrder) {
  constexpr int kThreads = 8;
  constexpr int kTasksPerThread = 5'000;
  std::vector<int> last_seen(kThreads, -1);  // loop thread only
  int out_of_order = 0;
  int off_loop = 0;
  int ran = 0;
  std::vector<std::thread> posters;
  posters.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        ASSERT_TRUE(loop_.Post([&, t, i] {
          off_loop += loop_.IsLoopThread() ? 0 : 1;
          out_of_order += last_seen[t] + 1 == i ? 0 : 1;
          last_seen[t] = i;
          ++ran;
        }));
      }
    });
  }
  for (std::thread& poster : posters) poster.join();
  Drain(loop_);
  EXPECT_EQ(ran, kThreads * kTasksPerThread);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(off_loop, 0);
}

TEST_F(EventLoopTest, RunAtAndCancelFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kTimersPerThread = 2'000;
  const SteadyTime t0 = clock_.Now();
  std::atomic<int> cancelled{0};
  int fired = 0;  // loop thread only
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTimersPerThread; ++i) {
        // Not yet due (the fake clock stands still), so every Cancel below wins.
        TimerId id = loop_.RunAt(t0 + milliseconds(1 + i % 100), [&fired] { ++fired; });
        if ((i + t) % 2 == 0 && loop_.Cancel(id)) cancelled.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  clock_.Advance(milliseconds(100));
  RunDueTimers(loop_);
  EXPECT_EQ(cancelled.load(), kThreads * kTimersPerThread / 2);
  EXPECT_EQ(fired, kThreads * kTimersPerThread - cancelled.load());
}

TEST_F(EventLoopTest, StopRunsTheTasksAcceptedBeforeItAndRefusesLaterOnes) {
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // The first task holds the loop so that the others are still queued when Stop begins.
  ASSERT_TRUE(loop_.Post([released] { released.wait(); }));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(loop_.Post([&ran] { ran.fetch_add(1); }));
  std::thread stopper([this] { loop_.Stop(); });
  // Stop has begun once Post refuses.
  while (loop_.Post([] {})) std::this_thread::yield();
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_FALSE(loop_.Post([&ran] { ran.fetch_add(1000); }));
  loop_.Stop();  // idempotent
  EXPECT_EQ(ran.load(), 100);
}

TEST_F(EventLoopTest, IsLoopThreadOnlyOnTheLoop) {
  EXPECT_FALSE(loop_.IsLoopThread());
  std::promise<bool> on_loop;
  loop_.Post([&] { on_loop.set_value(loop_.IsLoopThread()); });
  EXPECT_TRUE(on_loop.get_future().get());
}

// Real time: the poll must wake for a timer armed from another thread while it sleeps, and not
// before the deadline.
TEST(EventLoopRealClockTest, TimerArmedFromAnotherThreadWakesTheSleepingLoopOnTime) {
  EventLoop loop(SystemClock());
  loop.Start();
  Drain(loop);  // the loop is now asleep in curl_multi_poll with nothing to do
  const SteadyTime armed = SystemClock().Now();
  std::promise<SteadyTime> fired;
  loop.RunAt(armed + milliseconds(20), [&fired] { fired.set_value(SystemClock().Now()); });
  std::future<SteadyTime> at = fired.get_future();
  ASSERT_EQ(at.wait_for(kWait), std::future_status::ready);
  const Duration late = at.get() - (armed + milliseconds(20));
  EXPECT_GE(late, Duration::zero());
  // Loose: the machine is shared; the poll itself is precise to ~1 ms.
  EXPECT_LT(late, seconds(2));
}

TEST(EventLoopRealClockTest, TasksAndTimersArmedBeforeStartRunOnceStarted) {
  EventLoop loop(SystemClock());
  std::atomic<int> ran{0};
  ASSERT_TRUE(loop.Post([&ran] { ran.fetch_add(1); }));
  loop.RunAt(SystemClock().Now(), [&ran] { ran.fetch_add(10); });
  loop.Start();
  RunDueTimers(loop);
  EXPECT_EQ(ran.load(), 11);
}

}  // namespace
}  // namespace quotaflow::aws
