// The deadline scheduler: one thread waits (condition variable, no polling per deadline) until
// the earliest due time, then reports due deadlines through the callback.
#include "gateway/deadlines/deadline_scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace caselink::deadlines {
namespace {

// The scheduler whose on_due is running on this thread, to catch re-entrant calls that would
// deadlock (a callback calling RunDue, Poke or Stop).
thread_local const DeadlineScheduler* firing_scheduler = nullptr;

DeadlineScheduler::Options Sanitized(DeadlineScheduler::Options options) {
  if (options.max_wait <= absl::ZeroDuration()) options.max_wait = absl::Minutes(1);
  // steady_clock::now() + an unbounded wait would overflow.
  options.max_wait = std::min(options.max_wait, absl::Hours(24));
  return options;
}

// Marks the current thread as running `scheduler`'s callbacks for the scope's duration.
class FiringScope {
 public:
  explicit FiringScope(const DeadlineScheduler* scheduler) { firing_scheduler = scheduler; }
  ~FiringScope() { firing_scheduler = nullptr; }
};

}  // namespace

DeadlineScheduler::DeadlineScheduler(const Clock& clock, DueCallback on_due, Options options)
    : clock_(clock), on_due_(std::move(on_due)), options_(Sanitized(options)) {
  if (!on_due_) {
    std::fprintf(stderr, "DeadlineScheduler: on_due callback is empty\n");
    std::abort();
  }
  if (options_.run_thread) thread_ = std::thread([this] { ThreadMain(); });
}

DeadlineScheduler::~DeadlineScheduler() { Stop(); }

void DeadlineScheduler::CheckNotInCallback(const char* method) const {
  // Crashing beats a silent deadlock: this is a programming error, not an input error.
  if (firing_scheduler == this) {
    std::fprintf(stderr, "DeadlineScheduler::%s called from inside on_due; not allowed\n", method);
    std::abort();
  }
}

absl::Status DeadlineScheduler::Add(absl::string_view id, absl::Time due) {
  if (id.empty()) return absl::InvalidArgumentError("a deadline needs a non-empty id");
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    return absl::FailedPreconditionError(
        absl::StrCat("deadline scheduler is stopped; cannot add '", id, "'"));
  }
  const Key key{due, next_seq_++};
  auto [it, inserted] = index_.emplace(std::string(id), key);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat(
        "deadline '", id, "' is already scheduled (due ", absl::FormatTime(it->second.first),
        "); cancel it before scheduling it again"));
  }
  queue_.emplace(key, std::string(id));
  // Only a new earliest deadline changes how long the thread should sleep.
  if (queue_.begin()->first == key) {
    ++wake_generation_;
    wake_.notify_all();
  }
  return absl::OkStatus();
}

bool DeadlineScheduler::Cancel(absl::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  queue_.erase(it->second);
  index_.erase(it);
  // The thread may now sleep longer than needed and wake to find nothing due; that is harmless,
  // so it is not woken.
  return true;
}

int DeadlineScheduler::FireDue() {
  std::lock_guard<std::mutex> fire_lock(fire_mu_);
  // One clock reading per pass, so a callback that adds deadlines already due cannot extend the
  // pass for ever past that instant.
  const absl::Time now = clock_.Now();
  int fired = 0;
  FiringScope firing(this);
  while (true) {
    std::string id;
    {
      // Handed out one at a time: a Cancel made meanwhile (by a callback or another thread) of
      // a deadline not yet handed out is honoured, as Cancel's contract promises.
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty() || queue_.begin()->first.first > now) break;
      auto node = queue_.extract(queue_.begin());
      index_.erase(node.mapped());
      id = std::move(node.mapped());
    }
    on_due_(id);
    ++fired;
  }
  return fired;
}

int DeadlineScheduler::RunDue() {
  CheckNotInCallback("RunDue");
  return FireDue();
}

void DeadlineScheduler::ThreadMain() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // Pokes seen before this pass reads the clock are served by it.
    const uint64_t pokes = pokes_requested_;
    const uint64_t generation = wake_generation_;
    lock.unlock();
    FireDue();
    lock.lock();
    pokes_served_ = pokes;
    pass_done_.notify_all();

    auto changed = [&] { return stopping_ || wake_generation_ != generation; };
    if (changed()) continue;
    if (queue_.empty()) {
      wake_.wait(lock, changed);
      continue;
    }
    // Sleep until the earliest due time by this clock, bounded by max_wait.
    const absl::Duration until_due = queue_.begin()->first.first - clock_.Now();
    const absl::Duration wait = std::min(std::max(until_due, absl::ZeroDuration()),
                                         options_.max_wait);
    wake_.wait_until(lock, std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(wait),
                     changed);
  }
  // Release Poke callers that wait for a pass that will not come.
  pokes_served_ = pokes_requested_;
  pass_done_.notify_all();
}

void DeadlineScheduler::Poke() {
  CheckNotInCallback("Poke");
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_ || !options_.run_thread) return;
  const uint64_t ticket = ++pokes_requested_;
  ++wake_generation_;
  wake_.notify_all();
  pass_done_.wait(lock, [&] { return pokes_served_ >= ticket || stopping_; });
}

void DeadlineScheduler::Stop() {
  CheckNotInCallback("Stop");
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ++wake_generation_;
    wake_.notify_all();
    pass_done_.notify_all();
  }
  // stop_mu_ makes concurrent Stop calls (e.g. an explicit Stop racing the destructor's) safe.
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  if (thread_.joinable()) thread_.join();
}

int DeadlineScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

std::optional<absl::Time> DeadlineScheduler::next_due() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

}  // namespace caselink::deadlines
