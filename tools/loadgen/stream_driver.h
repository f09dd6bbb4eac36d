// One CaseService.SubmitStream call of the load driver: envelopes queue while
// the previous write is in flight and go out together in one message.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "caselink/v1/services.grpc.pb.h"

namespace caselink::loadgen {

// Where a stream reports its answers, by the driver's request index.
class StreamAnswerSink {
 public:
  virtual ~StreamAnswerSink() = default;
  // Called exactly once per accepted envelope, from a gRPC callback thread;
  // `response` is set on OK and only valid during the call.
  virtual void OnStreamAnswer(size_t request, const grpc::Status& status, const v1::SubmitResponse* response) = 0;
};

class SubmitStreamCall : public grpc::ClientBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse> {
 public:
  struct Counters {
    uint64_t request_messages = 0;
    uint64_t envelopes_written = 0;
    uint64_t answer_messages = 0;  // SubmitStreamResponses read
    uint64_t answers_read = 0;     // answers in them
    // Answers whose index was never sent on this stream or was answered before.
    uint64_t stray_answers = 0;
  };

  // Opens the call; `deadline` bounds the whole stream.
  static std::unique_ptr<SubmitStreamCall> Open(v1::CaseService::Stub& stub, StreamAnswerSink& sink, int max_batch,
                                                absl::Duration deadline);
  ~SubmitStreamCall() override;

  SubmitStreamCall(const SubmitStreamCall&) = delete;
  SubmitStreamCall& operator=(const SubmitStreamCall&) = delete;

  // Queues `envelope` as request `request`; never waits. The envelope is
  // borrowed, not copied, until its message is written: it must outlive the
  // call and must not be sent elsewhere meanwhile. Once queued, the sink
  // hears of it exactly once, even if the stream fails before it is written.
  // Not OK when the stream has ended or is closing: the status to count the
  // request with (the caller owns its outcome then).
  grpc::Status Enqueue(size_t request, const v1::SignedEnvelope& envelope);
  // Half-closes once the queue is written; answers still arrive.
  void Close();
  // Waits until the call is over and every envelope it accepted has been
  // reported to the sink; returns the stream's final status.
  grpc::Status Wait();
  Counters counters() const;

  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override {}
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  SubmitStreamCall(StreamAnswerSink& sink, int max_batch) : sink_(sink), max_batch_(max_batch) {}

  enum class Next { kNothing, kWrite, kWritesDone };
  // With mu_ held: moves queued envelopes into write_ when no write is in
  // flight, or half-closes when asked to and idle.
  Next TakeNextLocked();
  // Runs outside mu_: gRPC may complete operations on the calling thread.
  void Perform(Next next, bool release_hold);
  bool ReleaseHoldLocked();
  void ReturnBorrowed();

  StreamAnswerSink& sink_;
  const int max_batch_;
  grpc::ClientContext context_;
  v1::SubmitStreamResponse read_;
  v1::SubmitStreamRequest write_;  // its envelopes are borrowed (see Enqueue)

  mutable std::mutex mu_;
  std::condition_variable finished_cv_;
  // Not yet written, in stream order; they are the last entries of requests_.
  std::deque<const v1::SignedEnvelope*> queue_;
  std::vector<size_t> requests_;  // position on the stream -> the driver's request index
  std::vector<uint8_t> answered_;  // by position on the stream
  bool writing_ = false;
  bool closing_ = false;
  bool writes_done_ = false;
  bool broken_ = false;  // a write failed or the read side ended: nothing more goes out
  bool hold_released_ = false;
  bool ended_ = false;     // OnDone has taken the unanswered envelopes; nothing more is queued
  grpc::Status unanswered_status_;  // what they are counted with
  bool finished_ = false;  // and the sink has heard of all of them
  grpc::Status final_status_;
  Counters counters_;
};

}  // namespace caselink::loadgen
