// The load driver. Sending never waits on an answer: every answer (a unary
// call's end, or one answer on a stream) arrives on a gRPC callback thread,
// which records it and (closed loop) starts the next request.
#include "tools/loadgen/driver.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "tools/loadgen/stream_driver.h"

namespace caselink::loadgen {

absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectChannel(const AgencyIdentity& identity, const std::string& target,
                                                              int channel_id, absl::Duration connect_timeout) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = identity.ca_pem;
  ssl.pem_cert_chain = identity.tls_cert_pem;
  ssl.pem_private_key = identity.tls_key_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_CHANNEL_ID, channel_id);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
  // The TLS handshake happens here, before any clock starts.
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(connect_timeout))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", target, " as ", identity.agency_id, " within ",
                                               absl::FormatDuration(connect_timeout),
                                               " (is the gateway running, and is --pki the PKI it trusts?)"));
  }
  return channel;
}

uint64_t RunResult::errors() const {
  uint64_t total = 0;
  for (uint64_t n : errors_by_code) total += n;
  return total;
}

double RunResult::LatencyMs(double q) const {
  if (latencies_ns.empty()) return 0;
  const double rank = std::ceil(q * static_cast<double>(latencies_ns.size()));
  const size_t index = std::min(latencies_ns.size() - 1, static_cast<size_t>(std::max(rank, 1.0)) - 1);
  return static_cast<double>(latencies_ns[index]) / 1e6;
}

namespace {

using Clock = std::chrono::steady_clock;

class LoadDriver : public StreamAnswerSink {
 public:
  LoadDriver(const std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>>& stubs, const Workload& workload,
             const DriverOptions& options)
      : stubs_(stubs),
        workload_(workload),
        options_(options),
        open_loop_(options.rate > 0),
        stream_(options.api == DriverApi::kStream),
        latency_ns_(workload.submits.size(), -1),
        code_by_request_(workload.submits.size(), -1),
        answered_(workload.submits.size(), 0),
        ok_per_second_(static_cast<size_t>(absl::ToInt64Seconds(options.duration + options.call_timeout)) + 2) {
    if (stream_) latency_from_.resize(workload.submits.size());
  }

  RunResult Run();

  void OnStreamAnswer(size_t index, const grpc::Status& status, const v1::SubmitResponse* response) override {
    Complete(index, latency_from_[index], Clock::now(), status, response, /*next=*/true);
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::SubmitResponse response;
    size_t index = 0;
    Clock::time_point latency_from;
  };
  struct Parked {
    size_t index;
    Clock::time_point due;
  };

  // Sends request `index` now, or once its predecessor has been answered.
  void Dispatch(size_t index, Clock::time_point due);
  void Send(size_t index, Clock::time_point latency_from);
  void SendOnStream(size_t index, Clock::time_point latency_from);
  void OnDone(Call* call, const grpc::Status& status);
  // Request `index` is answered: recorded, its dependent released, and its
  // slot (closed loop) takes the next request when `next`, else retires.
  void Complete(size_t index, Clock::time_point latency_from, Clock::time_point now, const grpc::Status& status,
                const v1::SubmitResponse* response, bool next);
  // The one place an answer is counted, for both APIs.
  void Record(size_t index, Clock::time_point latency_from, Clock::time_point now, const grpc::Status& status,
              const v1::SubmitResponse* response);
  void OpenStreams();
  void CloseStreams(RunResult& out);
  // Closed loop: the slot that just finished takes the next request, or retires.
  void NextClosedLoop();
  // One outstanding unit (open loop: a request; closed loop: a slot) is over.
  void Release();

  const std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>>& stubs_;
  const Workload& workload_;
  const DriverOptions& options_;
  const bool open_loop_;
  const bool stream_;
  Clock::time_point start_;
  Clock::time_point stop_;

  std::atomic<size_t> next_{0};
  std::atomic<bool> ran_out_{false};
  std::atomic<int64_t> outstanding_{0};
  std::mutex mu_;
  std::condition_variable idle_;

  std::mutex park_mu_;
  std::vector<int64_t> latency_ns_;  // per request, written once by its completion
  std::vector<int8_t> code_by_request_;  // per request, written once by its completion
  std::vector<uint8_t> answered_;    // guarded by park_mu_ (only for requests with dependents)
  std::unordered_map<size_t, Parked> parked_;  // by predecessor; guarded by park_mu_

  std::vector<std::vector<std::unique_ptr<SubmitStreamCall>>> streams_;  // stream API: one per stub
  // Stream API: per request, written before it is queued on its stream
  // (whose lock orders that write before the answer's read).
  std::vector<Clock::time_point> latency_from_;

  std::vector<std::atomic<uint64_t>> ok_per_second_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> bad_receipts_{0};
  std::array<std::atomic<uint64_t>, 17> errors_{};
  std::atomic<int64_t> last_answer_ns_{0};  // since start_

  std::mutex record_mu_;
  std::map<int, std::string> first_error_message_;  // guarded by record_mu_
  std::vector<v1::SignedSubmissionReceipt> receipts_;  // guarded by record_mu_
};

void LoadDriver::Dispatch(size_t index, Clock::time_point due) {
  const PreparedSubmit& p = workload_.submits[index];
  if (p.predecessor >= 0) {
    std::lock_guard<std::mutex> lock(park_mu_);
    if (!answered_[p.predecessor]) {
      parked_.emplace(static_cast<size_t>(p.predecessor), Parked{index, due});
      return;
    }
  }
  Send(index, open_loop_ ? due : Clock::now());
}

void LoadDriver::Send(size_t index, Clock::time_point latency_from) {
  if (stream_) return SendOnStream(index, latency_from);
  const PreparedSubmit& p = workload_.submits[index];
  auto* call = new Call;
  call->index = index;
  call->latency_from = latency_from;
  call->context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.call_timeout));
  sent_.fetch_add(1, std::memory_order_relaxed);
  const auto& connections = stubs_[p.agency];
  connections[index % connections.size()]->async()->Submit(
      &call->context, &p.request, &call->response, [this, call](grpc::Status status) { OnDone(call, status); });
}

void LoadDriver::SendOnStream(size_t index, Clock::time_point latency_from) {
  const PreparedSubmit& p = workload_.submits[index];
  latency_from_[index] = latency_from;
  sent_.fetch_add(1, std::memory_order_relaxed);
  const auto& streams = streams_[p.agency];
  const grpc::Status queued = streams[index % streams.size()]->Enqueue(index, p.request.envelope());
  if (queued.ok()) return;
  // Its stream has ended. The slot retires instead of taking the next
  // request, which could land on the same dead stream again at once.
  Complete(index, latency_from, Clock::now(), queued, nullptr, /*next=*/false);
}

void LoadDriver::OnDone(Call* call, const grpc::Status& status) {
  Complete(call->index, call->latency_from, Clock::now(), status, &call->response, /*next=*/true);
  delete call;
}

void LoadDriver::Record(size_t index, Clock::time_point latency_from, Clock::time_point now,
                        const grpc::Status& status, const v1::SubmitResponse* response) {
  const int64_t since_start = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
  int64_t last = last_answer_ns_.load(std::memory_order_relaxed);
  while (since_start > last && !last_answer_ns_.compare_exchange_weak(last, since_start)) {
  }
  const int code = std::clamp(static_cast<int>(status.error_code()), 0, 16);
  code_by_request_[index] = static_cast<int8_t>(code);
  if (status.ok()) {
    const v1::SignedSubmissionReceipt& receipt = response->receipt();
    if (receipt.receipt().empty() || receipt.signature().value().empty()) {
      bad_receipts_.fetch_add(1, std::memory_order_relaxed);
    } else {
      latency_ns_[index] = std::chrono::duration_cast<std::chrono::nanoseconds>(now - latency_from).count();
      const uint64_t n = ok_.fetch_add(1, std::memory_order_relaxed);
      if (response->duplicate()) duplicates_.fetch_add(1, std::memory_order_relaxed);
      const size_t second = std::min(ok_per_second_.size() - 1, static_cast<size_t>(since_start / 1'000'000'000));
      ok_per_second_[second].fetch_add(1, std::memory_order_relaxed);
      if (n < options_.sample_receipts) {
        std::lock_guard<std::mutex> lock(record_mu_);
        receipts_.push_back(receipt);
      }
    }
  } else {
    errors_[code].fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(record_mu_);
    first_error_message_.emplace(code, status.error_message());
  }
}

void LoadDriver::Complete(size_t index, Clock::time_point latency_from, Clock::time_point now,
                          const grpc::Status& status, const v1::SubmitResponse* response, bool next) {
  Record(index, latency_from, now, status, response);
  if (workload_.submits[index].has_dependent) {
    std::optional<Parked> waiting;
    {
      std::lock_guard<std::mutex> lock(park_mu_);
      answered_[index] = 1;
      auto it = parked_.find(index);
      if (it != parked_.end()) {
        waiting = it->second;
        parked_.erase(it);
      }
    }
    // A refused predecessor still releases its dependent: it is sent and its
    // refusal counted, as a real agency system would see it.
    if (waiting) Send(waiting->index, open_loop_ ? waiting->due : now);
  }
  if (open_loop_ || !next) {
    Release();
  } else {
    NextClosedLoop();
  }
}

void LoadDriver::OpenStreams() {
  // Each stream's deadline covers the sending time plus the last answer's.
  streams_.resize(stubs_.size());
  for (size_t a = 0; a < stubs_.size(); ++a) {
    for (const auto& stub : stubs_[a]) {
      streams_[a].push_back(
          SubmitStreamCall::Open(*stub, *this, options_.stream_batch, options_.duration + options_.call_timeout));
    }
  }
}

void LoadDriver::CloseStreams(RunResult& out) {
  for (auto& connections : streams_) {
    for (auto& stream : connections) stream->Close();
  }
  for (auto& connections : streams_) {
    for (auto& stream : connections) {
      const grpc::Status status = stream->Wait();
      const SubmitStreamCall::Counters c = stream->counters();
      out.stream_messages += c.request_messages;
      out.stream_envelopes_written += c.envelopes_written;
      out.stream_answer_messages += c.answer_messages;
      out.stream_answers_read += c.answers_read;
      out.stray_answers += c.stray_answers;
      if (!status.ok()) {
        if (out.failed_streams++ == 0) {
          out.first_stream_error_code = static_cast<int>(status.error_code());
          out.first_stream_error = status.error_message();
        }
      }
    }
  }
  streams_.clear();
}

void LoadDriver::NextClosedLoop() {
  const Clock::time_point now = Clock::now();
  if (now >= stop_) return Release();
  const size_t index = next_.fetch_add(1, std::memory_order_relaxed);
  if (index >= workload_.submits.size()) {
    ran_out_.store(true, std::memory_order_relaxed);
    return Release();
  }
  Dispatch(index, now);
}

void LoadDriver::Release() {
  if (outstanding_.fetch_sub(1) == 1) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.notify_all();
  }
}

RunResult LoadDriver::Run() {
  if (stream_) OpenStreams();
  start_ = Clock::now();
  stop_ = start_ + absl::ToChronoNanoseconds(options_.duration);
  if (open_loop_) {
    // Sleep precisely: the default 50 us timer slack would bunch sends up.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    const auto interval = std::chrono::duration<double>(1.0 / options_.rate);
    for (size_t i = 0; i < workload_.submits.size(); ++i) {
      const Clock::time_point due = start_ + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
      if (due >= stop_) break;
      std::this_thread::sleep_until(due);
      outstanding_.fetch_add(1);
      Dispatch(i, due);
    }
  } else {
    outstanding_.store(std::max(1, options_.concurrency));
    for (int slot = 0; slot < std::max(1, options_.concurrency); ++slot) NextClosedLoop();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return outstanding_.load() == 0; });
  }

  RunResult out;
  // Every request is answered by now; closing only collects the streams' ends.
  if (stream_) CloseStreams(out);
  out.wall_seconds = static_cast<double>(last_answer_ns_.load()) / 1e9;
  out.sent = sent_.load();
  out.ok = ok_.load();
  out.duplicates = duplicates_.load();
  out.bad_receipts = bad_receipts_.load();
  for (size_t c = 0; c < errors_.size(); ++c) out.errors_by_code[c] = errors_[c].load();
  out.ran_out_of_requests = ran_out_.load();
  out.code_by_request = code_by_request_;
  out.latencies_ns.reserve(out.ok);
  for (int64_t ns : latency_ns_) {
    if (ns >= 0) out.latencies_ns.push_back(ns);
  }
  std::sort(out.latencies_ns.begin(), out.latencies_ns.end());
  const size_t seconds = static_cast<size_t>(std::ceil(out.wall_seconds));
  for (size_t s = 0; s < std::min(seconds, ok_per_second_.size()); ++s) out.ok_per_second.push_back(ok_per_second_[s].load());
  std::lock_guard<std::mutex> lock(record_mu_);
  out.first_error_message = first_error_message_;
  out.receipts = receipts_;
  return out;
}

}  // namespace

RunResult RunLoad(const std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>>& stubs,
                  const Workload& workload, const DriverOptions& options) {
  LoadDriver driver(stubs, workload, options);
  return driver.Run();
}

}  // namespace caselink::loadgen
