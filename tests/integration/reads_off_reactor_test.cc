// Read RPCs whose store reads hang (a disk stall, a huge listing) must not hold
// gRPC's callback threads: Submit and GetGatewayInfo are still served, and the
// held reads answer correctly once the store lets them go.
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/store/store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::ReadDeliveries;
using testing::TestGateway;
using testing::TransferEnvelope;

// More calls than gRPC 1.51 has callback threads (2 to 16 by core count; 2 on small machines)
// and than the gateway has read threads.
constexpr int kHeldCalls = 16;
constexpr absl::Duration kWait = absl::Seconds(30);

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

// Holds the threads that enter it until released; counts them while they wait.
class Gate {
 public:
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  void Enter() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!held_) return;
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !held_; });
    --waiting_;
  }
  int waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }
  // Whether `n` threads are held within `timeout`.
  bool AwaitWaiting(int n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int waiting_ = 0;
};

struct Gates {
  Gate case_reads;      // ReadCase
  Gate delivery_reads;  // ReadPendingDeliveries
};

// The gateway's SQLite store, with ReadCase and ReadPendingDeliveries passing a gate first.
class HoldingStore final : public testing::ForwardingStore {
 public:
  HoldingStore(std::unique_ptr<Store> inner, std::shared_ptr<Gates> gates)
      : ForwardingStore(std::move(inner)), gates_(std::move(gates)) {}

  absl::StatusOr<std::optional<v1::Case>> ReadCase(std::string_view case_id) override {
    gates_->case_reads.Enter();
    return ForwardingStore::ReadCase(case_id);
  }
  absl::StatusOr<std::vector<v1::Delivery>> ReadPendingDeliveries(std::string_view agency, uint64_t after_sequence,
                                                                 uint32_t limit) override {
    gates_->delivery_reads.Enter();
    return ForwardingStore::ReadPendingDeliveries(agency, after_sequence, limit);
  }

 private:
  std::shared_ptr<Gates> gates_;
};

GatewayServerOptions HoldingStoreOptions(std::shared_ptr<Gates> gates, ReadExecutorOptions reads = {}) {
  return {.decorate_store = [gates](std::unique_ptr<Store> store) -> std::unique_ptr<Store> {
            return std::make_unique<HoldingStore>(std::move(store), gates);
          },
          .reads = reads};
}

class ReadsOffReactorTest : public ::testing::Test {
 protected:
  explicit ReadsOffReactorTest(ReadExecutorOptions reads = {})
      : gates_(std::make_shared<Gates>()),
        gateway_(testing::MakeTempDir(), {.clock = std::make_shared<ManualClock>(testing::ScenarioStart()),
                                          .server = HoldingStoreOptions(gates_, reads)}) {}

  // What a held read must not delay: a handoff and the gateway's info, each within 20 s.
  void ExpectSubmitAndInfoAreServed(const std::string& case_id) {
    auto epb = gateway_.Client("510100.epb");
    auto signed_envelope = gateway_.Sign(*epb, TransferEnvelope(case_id));
    ASSERT_TRUE(signed_envelope.ok()) << signed_envelope.status();
    auto submitted = epb->SubmitSigned(*signed_envelope, absl::Seconds(20));
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    EXPECT_FALSE(submitted->duplicate());
    EXPECT_FALSE(submitted->receipt().signature().value().empty());

    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(20)));
    v1::GatewayInfo info;
    grpc::Status st = epb->gateway().GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(info.caller_agency(), "510100.epb");
  }

  std::shared_ptr<Gates> gates_;
  TestGateway gateway_;
};

TEST_F(ReadsOffReactorTest, SubmitAndGatewayInfoAreServedWhileManyGetCaseReadsHang) {
  auto epb = gateway_.Client("510100.epb");
  ASSERT_TRUE(gateway_.Submit(*epb, TransferEnvelope("C-READ-1")).ok());

  gates_->case_reads.Hold();
  auto psb = gateway_.Client("510100.psb");
  std::vector<grpc::Status> statuses(kHeldCalls);
  std::vector<v1::GetCaseResponse> responses(kHeldCalls);
  std::vector<std::thread> callers;
  for (int i = 0; i < kHeldCalls; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(absl::Seconds(120)));
      v1::GetCaseRequest req;
      req.set_case_id("C-READ-1");
      statuses[i] = psb->cases().GetCase(&ctx, req, &responses[i]);
    });
  }
  // Both read threads are stuck in the store; the other calls wait for them.
  ASSERT_TRUE(gates_->case_reads.AwaitWaiting(2, kWait));

  ExpectSubmitAndInfoAreServed("C-READ-2");
  // The reads were held all along: the answers above did not wait for them.
  EXPECT_EQ(gates_->case_reads.waiting(), 2);

  gates_->case_reads.Release();
  for (auto& t : callers) t.join();
  for (int i = 0; i < kHeldCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << "call " << i << ": " << statuses[i].error_message();
    EXPECT_EQ(responses[i].case_().case_id(), "C-READ-1");
    EXPECT_EQ(responses[i].case_().state(), v1::TRANSFERRED);
    EXPECT_EQ(responses[i].timeline_size(), 1);
  }
}

TEST_F(ReadsOffReactorTest, SubmitIsServedWhileSubscribeStreamsWaitForTheOutbox) {
  gates_->delivery_reads.Hold();
  constexpr int kStreams = 4;
  std::vector<std::vector<v1::Delivery>> received(kStreams);
  std::vector<std::thread> streams;
  std::vector<std::unique_ptr<AgencyClient>> clients;
  for (int i = 0; i < kStreams; ++i) clients.push_back(gateway_.Client("510100.psb"));
  for (int i = 0; i < kStreams; ++i) {
    streams.emplace_back([&, i] { received[i] = ReadDeliveries(*clients[i], 1, absl::Seconds(120)); });
  }
  // Each stream's first outbox read is held on a read thread, not on a gRPC thread.
  ASSERT_TRUE(gates_->delivery_reads.AwaitWaiting(2, kWait));

  ExpectSubmitAndInfoAreServed("C-READ-3");
  EXPECT_EQ(gates_->delivery_reads.waiting(), 2);

  gates_->delivery_reads.Release();
  for (auto& t : streams) t.join();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_EQ(received[i].size(), 1u) << "stream " << i;
    EXPECT_EQ(received[i][0].case_id(), "C-READ-3");
  }
}

// One read thread and room for one waiting read.
class FullReadQueueTest : public ReadsOffReactorTest {
 protected:
  FullReadQueueTest() : ReadsOffReactorTest(ReadExecutorOptions{.threads = 1, .max_queued = 1}) {}
};

TEST_F(FullReadQueueTest, ReadBeyondTheQueueIsRefusedAtOnceAndAudited) {
  auto epb = gateway_.Client("510100.epb");
  ASSERT_TRUE(gateway_.Submit(*epb, TransferEnvelope("C-READ-4")).ok());
  auto psb = gateway_.Client("510100.psb");
  auto get_case = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(120)));
    v1::GetCaseRequest req;
    req.set_case_id("C-READ-4");
    v1::GetCaseResponse resp;
    grpc::Status st = psb->cases().GetCase(&ctx, req, &resp);
    return std::make_pair(st, resp);
  };
  const uint64_t audit_before = gateway_.AuditSize();
  gates_->case_reads.Hold();
  auto running = std::async(std::launch::async, get_case);
  ASSERT_TRUE(gates_->case_reads.AwaitWaiting(1, kWait));
  // Of these two, one waits in the queue and the other finds it full.
  auto second = std::async(std::launch::async, get_case);
  auto third = std::async(std::launch::async, get_case);
  const absl::Time deadline = absl::Now() + kWait;
  while (second.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready &&
         third.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready && absl::Now() < deadline) {
  }
  const bool second_refused = second.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  auto& refused_call = second_refused ? second : third;
  auto& queued_call = second_refused ? third : second;
  ASSERT_EQ(refused_call.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "no call was refused";
  const auto [refused, refused_response] = refused_call.get();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("read queue is full (1 reads waiting for 1 read threads)"), std::string::npos)
      << refused.error_message();
  // The queued call is still waiting behind the held read.
  EXPECT_NE(queued_call.wait_for(std::chrono::seconds(0)), std::future_status::ready);

  gates_->case_reads.Release();
  for (auto* call : {&running, &queued_call}) {
    const auto [st, resp] = call->get();
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.case_().case_id(), "C-READ-4");
  }
  int refusals = 0;
  for (const v1::AuditRecord& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() != "GetCase" || r.outcome() != v1::AuditRecord::REFUSED) continue;
    ++refusals;
    EXPECT_EQ(r.actor_agency(), "510100.psb");
    EXPECT_EQ(r.case_id(), "C-READ-4");
    EXPECT_EQ(r.status_code(), "RESOURCE_EXHAUSTED");
    EXPECT_NE(r.reason().find("read queue is full"), std::string::npos) << r.reason();
  }
  EXPECT_EQ(refusals, 1);
}

}  // namespace
}  // namespace caselink
