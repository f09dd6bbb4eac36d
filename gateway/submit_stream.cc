// One reactor per SubmitStream call. Envelopes are verified on the gRPC thread
// that read them and committed by the store's writer like any Submit; answers
// are gathered while a write is in flight, and those of one group commit
// until the group's last answer, and sent together: the envelopes a group
// holds for this stream cost one message.
#include "gateway/submit_stream.h"

#include <mutex>

#include "adapters/store/store.h"

namespace caselink {
namespace {

class SubmitStreamReactor final : public grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse> {
 public:
  SubmitStreamReactor(ServiceContext ctx, PeerIdentifier& peers, grpc::CallbackServerContext* context)
      : ctx_(ctx), peers_(peers), context_(context) {
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::unique_lock<std::mutex> lock(mu_);
      reading_ = false;
      reads_over_ = true;
      MaybeFinishLocked(lock);
      return;
    }
    // Checked per message, as Submit checks per call: a certificate revoked
    // while the stream is open refuses what follows.
    Caller caller;
    const absl::Status identified = peers_.Identify(*context_, caller);
    const int count = request_.envelopes_size();
    uint64_t first;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = next_index_;
      next_index_ += count;
      unanswered_ += count;
    }
    // reading_ stays set meanwhile, so answers that come back during the loop
    // can neither finish the call nor start another read.
    for (int i = 0; i < count; ++i) {
      const uint64_t index = first + i;
      if (!identified.ok()) {
        ctx_.pipeline.RecordRefusal(caller, "SubmitStream", "", identified,
                                    [this, index](absl::Status refusal) { Answer(index, std::move(refusal)); });
        continue;
      }
      ctx_.pipeline.Submit(caller, std::move(*request_.mutable_envelopes(i)),
                           [this, index](absl::StatusOr<v1::SubmitResponse> result) { Answer(index, std::move(result)); });
    }
    request_.Clear();
    std::unique_lock<std::mutex> lock(mu_);
    reading_ = false;
    ReadMoreLocked(lock);
    if (lock.owns_lock()) MaybeFinishLocked(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      // The caller is gone; what is still being committed is answered to no one
      // (a retry of the same envelope gets its receipt as a duplicate).
      broken_ = true;
      pending_.Clear();
    } else if (pending_.answers_size() > 0) {
      return StartWriteLocked(lock);
    }
    ReadMoreLocked(lock);
    if (lock.owns_lock()) MaybeFinishLocked(lock);
  }

  void OnCancel() override {
    std::unique_lock<std::mutex> lock(mu_);
    broken_ = true;
    pending_.Clear();
    MaybeFinishLocked(lock);
  }

  void OnDone() override { delete this; }

 private:
  void Answer(uint64_t index, absl::StatusOr<v1::SubmitResponse> result) {
    std::unique_lock<std::mutex> lock(mu_);
    --unanswered_;
    if (!broken_) {
      v1::SubmitStreamAnswer* answer = pending_.add_answers();
      answer->set_index(index);
      if (result.ok()) {
        *answer->mutable_response() = std::move(*result);
      } else {
        answer->set_code(static_cast<int32_t>(result.status().code()));
        answer->set_message(std::string(result.status().message()));
      }
      if (!writing_) {
        // More answers of the same group may follow; the first flush deferred
        // sends them all.
        if (!flush_deferred_) {
          flush_deferred_ = true;
          lock.unlock();
          AfterGroupDone([this] { FlushAnswers(); });
        }
        return;
      }
    }
    ReadMoreLocked(lock);
    if (lock.owns_lock()) MaybeFinishLocked(lock);
  }

  void FlushAnswers() {
    std::unique_lock<std::mutex> lock(mu_);
    flush_deferred_ = false;
    if (!broken_ && !writing_ && pending_.answers_size() > 0) return StartWriteLocked(lock);
    ReadMoreLocked(lock);
    if (lock.owns_lock()) MaybeFinishLocked(lock);
  }

  void Answer(uint64_t index, absl::Status refusal) { Answer(index, absl::StatusOr<v1::SubmitResponse>(std::move(refusal))); }

  // Sends every gathered answer in one message; releases the lock.
  void StartWriteLocked(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    current_.Swap(&pending_);
    pending_.Clear();
    ReadMoreLocked(lock);
    if (lock.owns_lock()) lock.unlock();
    StartWrite(&current_);
  }

  // Envelopes read and not yet answered on the wire: committing, or answered
  // and waiting for the caller to take the answer.
  size_t HeldLocked() const {
    return unanswered_ + pending_.answers_size() + (writing_ ? current_.answers_size() : 0);
  }

  // Reads the next message when the window has room; may release the lock.
  void ReadMoreLocked(std::unique_lock<std::mutex>& lock) {
    if (reading_ || reads_over_ || broken_ || finished_ || HeldLocked() >= ctx_.submit_stream_window) return;
    reading_ = true;
    lock.unlock();
    StartRead(&request_);
  }

  // Ends the call once nothing is in flight: no read, no write, no envelope
  // unanswered, no flush deferred. Finish is never called earlier, so the
  // reactor outlives every callback it handed out.
  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
    if (finished_ || reading_ || writing_ || flush_deferred_ || unanswered_ > 0) return;
    if (!reads_over_ && !broken_) return;
    finished_ = true;
    const bool broken = broken_;
    lock.unlock();
    Finish(broken ? grpc::Status(grpc::StatusCode::CANCELLED, "SubmitStream ended before its answers were sent")
                  : grpc::Status::OK);
  }

  ServiceContext ctx_;
  PeerIdentifier& peers_;
  grpc::CallbackServerContext* const context_;
  v1::SubmitStreamRequest request_;  // only touched by the read in flight and its OnReadDone

  std::mutex mu_;
  v1::SubmitStreamResponse pending_;  // answers not yet written
  v1::SubmitStreamResponse current_;  // the write in flight
  uint64_t next_index_ = 0;
  size_t unanswered_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool flush_deferred_ = false;  // a FlushAnswers waits for the end of the group being answered
  bool reads_over_ = false;  // the caller closed its side
  bool broken_ = false;      // cancelled, or a write failed: nothing more is sent
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse>* NewSubmitStreamReactor(
    ServiceContext ctx, PeerIdentifier& peers, grpc::CallbackServerContext* context) {
  return new SubmitStreamReactor(ctx, peers, context);
}

}  // namespace caselink
