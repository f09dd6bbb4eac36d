// SubmitStream for the load driver: one write in flight per stream (gRPC's
// rule), and whatever queued meanwhile goes out in the next message.
#include "tools/loadgen/stream_driver.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "tools/client/agency_client.h"

namespace caselink::loadgen {

std::unique_ptr<SubmitStreamCall> SubmitStreamCall::Open(v1::CaseService::Stub& stub, StreamAnswerSink& sink,
                                                         int max_batch, absl::Duration deadline) {
  std::unique_ptr<SubmitStreamCall> call(new SubmitStreamCall(sink, std::max(1, max_batch)));
  call->context_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  stub.async()->SubmitStream(&call->context_, call.get());
  // Writes start from any thread until Close; the hold keeps OnDone (and the
  // end of the reactor) from coming before the last of them.
  call->AddHold();
  call->StartRead(&call->read_);
  call->StartCall();
  return call;
}

SubmitStreamCall::~SubmitStreamCall() {
  bool finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished = finished_;
  }
  if (!finished) {
    // Never left running: the reactor's callbacks use this object.
    context_.TryCancel();
    Close();
    Wait();
  }
  std::lock_guard<std::mutex> lock(mu_);
  ReturnBorrowed();
}

grpc::Status SubmitStreamCall::Enqueue(size_t request, const v1::SignedEnvelope& envelope) {
  Next next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) {
      return grpc::Status(unanswered_status_.error_code(),
                          absl::StrCat("not sent, its SubmitStream had ended: ", unanswered_status_.error_message()));
    }
    if (closing_) return grpc::Status(grpc::StatusCode::CANCELLED, "not sent: its SubmitStream was closing");
    // A broken stream still takes it: it is counted with the stream's status.
    requests_.push_back(request);
    answered_.push_back(0);
    queue_.push_back(&envelope);
    next = TakeNextLocked();
  }
  Perform(next, false);
  return grpc::Status::OK;
}

void SubmitStreamCall::Close() {
  Next next;
  bool release;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    next = TakeNextLocked();
    release = ReleaseHoldLocked();
  }
  Perform(next, release);
}

grpc::Status SubmitStreamCall::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  finished_cv_.wait(lock, [this] { return finished_; });
  return final_status_;
}

SubmitStreamCall::Counters SubmitStreamCall::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

SubmitStreamCall::Next SubmitStreamCall::TakeNextLocked() {
  if (writing_ || broken_) return Next::kNothing;
  if (!queue_.empty()) {
    auto* envelopes = write_.mutable_envelopes();
    size_t n = 0;
    size_t bytes = 0;
    // At least one envelope; then up to the batch and the message-size bound.
    while (!queue_.empty() && n < static_cast<size_t>(max_batch_)) {
      const size_t size = queue_.front()->ByteSizeLong();
      if (n > 0 && bytes + size > kSubmitStreamMessageBytes) break;
      bytes += size;
      // Borrowed rather than copied: the message only serializes them, and
      // ReturnBorrowed takes them back before it could delete them.
      envelopes->UnsafeArenaAddAllocated(const_cast<v1::SignedEnvelope*>(queue_.front()));
      queue_.pop_front();
      ++n;
    }
    writing_ = true;
    ++counters_.request_messages;
    counters_.envelopes_written += n;
    return Next::kWrite;
  }
  if (closing_ && !writes_done_) {
    writes_done_ = true;
    return Next::kWritesDone;
  }
  return Next::kNothing;
}

void SubmitStreamCall::Perform(Next next, bool release_hold) {
  if (next == Next::kWrite) StartWrite(&write_);
  if (next == Next::kWritesDone) StartWritesDone();
  if (release_hold) RemoveHold();
}

bool SubmitStreamCall::ReleaseHoldLocked() {
  if (hold_released_ || writing_ || !(writes_done_ || broken_)) return false;
  hold_released_ = true;
  return true;
}

void SubmitStreamCall::ReturnBorrowed() {
  write_.mutable_envelopes()->UnsafeArenaExtractSubrange(0, write_.envelopes_size(), nullptr);
}

void SubmitStreamCall::OnWriteDone(bool ok) {
  Next next;
  bool release;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ReturnBorrowed();
    writing_ = false;
    // A failed write means the call is ending; what it carried and what is
    // still queued stay unanswered and are counted when the status arrives.
    if (!ok) broken_ = true;
    next = TakeNextLocked();
    release = ReleaseHoldLocked();
  }
  Perform(next, release);
}

void SubmitStreamCall::OnReadDone(bool ok) {
  if (!ok) {
    bool release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      release = ReleaseHoldLocked();
    }
    if (release) RemoveHold();
    return;
  }
  std::vector<std::pair<size_t, const v1::SubmitStreamAnswer*>> answers;
  answers.reserve(static_cast<size_t>(read_.answers_size()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.answer_messages;
    counters_.answers_read += static_cast<uint64_t>(read_.answers_size());
    const size_t written = requests_.size() - queue_.size();
    for (const v1::SubmitStreamAnswer& answer : read_.answers()) {
      // An answer for an envelope not sent yet, or answered before, would
      // count one twice and another never: it is counted apart instead.
      if (answer.index() >= written || answered_[answer.index()]) {
        ++counters_.stray_answers;
        continue;
      }
      answered_[answer.index()] = 1;
      answers.emplace_back(requests_[answer.index()], &answer);
    }
  }
  for (const auto& [request, answer] : answers) {
    if (answer->code() == 0) {
      sink_.OnStreamAnswer(request, grpc::Status::OK, &answer->response());
    } else if (answer->code() > 0 && answer->code() <= 16) {
      sink_.OnStreamAnswer(request, grpc::Status(static_cast<grpc::StatusCode>(answer->code()), answer->message()),
                           nullptr);
    } else {
      sink_.OnStreamAnswer(request,
                           grpc::Status(grpc::StatusCode::UNKNOWN, absl::StrCat("answer with status code ",
                                                                               answer->code(), ": ", answer->message())),
                           nullptr);
    }
  }
  StartRead(&read_);
}

void SubmitStreamCall::OnDone(const grpc::Status& status) {
  // Nothing is lost silently: an envelope the stream took and never answered
  // is an error with the stream's own status.
  const grpc::Status error =
      status.ok() ? grpc::Status(grpc::StatusCode::DATA_LOSS,
                                 "the gateway ended SubmitStream with OK without answering this envelope")
                  : status;
  std::vector<size_t> unanswered;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ReturnBorrowed();
    broken_ = true;
    ended_ = true;
    unanswered_status_ = error;
    queue_.clear();
    for (size_t i = 0; i < answered_.size(); ++i) {
      if (answered_[i]) continue;
      answered_[i] = 1;
      unanswered.push_back(requests_[i]);
    }
  }
  for (size_t request : unanswered) sink_.OnStreamAnswer(request, error, nullptr);
  // Notified under the lock: Wait's caller may destroy this object as soon
  // as it gets the lock back.
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  final_status_ = status;
  finished_cv_.notify_all();
}

}  // namespace caselink::loadgen
