// Wakes at the earliest running deadline and reports every deadline that has fallen due.
// Time comes from the injectable caselink::Clock, so tests can travel with a ManualClock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/clock/clock.h"

namespace caselink::deadlines {

class DeadlineScheduler {
 public:
  // Called once for each deadline that falls due, from the scheduler thread (or from the
  // caller of RunDue), one call at a time, in order of due time (ties in order of Add). It may
  // call Add, Cancel and the accessors; it must not call RunDue, Poke or Stop.
  using DueCallback = std::function<void(const std::string& id)>;

  struct Options {
    // Start the background thread. Without it deadlines fire only through RunDue.
    bool run_thread = true;
    // Longest single wait. The wait runs on the steady clock while deadlines are in Clock time;
    // re-reading the clock at least this often bounds the error when the wall clock is stepped.
    // Values above 24 h are treated as 24 h.
    absl::Duration max_wait = absl::Minutes(1);
  };

  DeadlineScheduler(const Clock& clock, DueCallback on_due)
      : DeadlineScheduler(clock, std::move(on_due), Options()) {}
  DeadlineScheduler(const Clock& clock, DueCallback on_due, Options options);
  // Stops the thread; deadlines still pending are dropped without firing.
  ~DeadlineScheduler();

  DeadlineScheduler(const DeadlineScheduler&) = delete;
  DeadlineScheduler& operator=(const DeadlineScheduler&) = delete;

  // Schedules `id` to fire at `due` (immediately if `due` has passed). INVALID_ARGUMENT for an
  // empty id, ALREADY_EXISTS if `id` is pending (Cancel it first to move it),
  // FAILED_PRECONDITION after Stop.
  absl::Status Add(absl::string_view id, absl::Time due);

  // Removes a pending deadline. True if it was pending: then on_due is never called for it.
  // False if it is unknown or has already been handed to on_due (it is firing or has fired).
  // Deadlines are handed out one at a time, so a callback can cancel another deadline that is
  // due in the same pass.
  bool Cancel(absl::string_view id);

  // Makes the thread re-read the clock now and fire what is due; returns once that pass is
  // complete (its on_due calls have returned). For clocks that move by jumps (ManualClock).
  // Returns at once when no thread runs.
  void Poke();

  // Fires, on the calling thread, every deadline due at clock.Now() (including those that
  // callbacks add with a due time at or before that reading); returns how many fired.
  int RunDue();

  // Stops the thread and refuses further Adds. Idempotent.
  void Stop();

  // Number of pending deadlines and the earliest due time among them.
  int pending() const;
  std::optional<absl::Time> next_due() const;

 private:
  // Ordered by due time, then by insertion, so equal due times fire in the order added.
  using Key = std::pair<absl::Time, uint64_t>;

  void ThreadMain();
  // Hands every deadline due at one clock_.Now() reading to on_due, in order.
  int FireDue();
  void CheckNotInCallback(const char* method) const;

  const Clock& clock_;
  const DueCallback on_due_;
  const Options options_;

  // Serialises firing (thread and RunDue) so callbacks never overlap and keep due order.
  // Lock order: fire_mu_ before mu_.
  std::mutex fire_mu_;

  mutable std::mutex mu_;
  std::condition_variable wake_;       // the thread: something changed (Add, Poke, Stop)
  std::condition_variable pass_done_;  // Poke callers: a pass has completed
  std::map<Key, std::string> queue_;
  absl::flat_hash_map<std::string, Key> index_;
  uint64_t next_seq_ = 0;
  uint64_t wake_generation_ = 0;  // bumped whenever the thread should re-check
  uint64_t pokes_requested_ = 0;
  uint64_t pokes_served_ = 0;
  bool stopping_ = false;

  std::mutex stop_mu_;  // guards joining thread_
  std::thread thread_;
};

}  // namespace caselink::deadlines
