// The load driver's SubmitStream mode against an in-process CaseService that
// answers out of order, several answers per message, refuses chosen envelopes
// and can end a stream early: every envelope must be counted once, on its own
// request, and dependents must wait for their predecessors.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/loadgen/driver.h"
#include "tools/loadgen/workload.h"

namespace caselink::loadgen {
namespace {

constexpr int kRefusedCode = static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION);
constexpr int kGoneCode = static_cast<int>(grpc::StatusCode::UNAVAILABLE);

struct ServerPolicy {
  std::set<std::string> refuse;                      // envelope ids answered FAILED_PRECONDITION
  std::map<std::string, std::string> predecessor;    // envelope id -> id that must be answered before it arrives
  int64_t fail_after = -1;  // >= 0: the envelope after this many ends its stream with UNAVAILABLE
};

struct ServerStats {
  uint64_t request_messages = 0;
  uint64_t envelopes = 0;
  size_t largest_message = 0;
  uint64_t answer_messages_with_several = 0;
  uint64_t out_of_order_answers = 0;  // written after an answer with a higher index on the same stream
  uint64_t order_violations = 0;      // dependents that arrived before their predecessor was answered
  std::set<std::string> written_ok;   // ids whose OK answer was written
};

class TestCaseService : public v1::CaseService::CallbackService {
 public:
  explicit TestCaseService(ServerPolicy policy) : policy_(std::move(policy)) {}

  grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse>* SubmitStream(
      grpc::CallbackServerContext*) override {
    return new StreamReactor(*this);
  }

  ServerStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  struct Pending {
    v1::SubmitStreamAnswer answer;
    std::string id;
  };

  // Answers each request message's envelopes in reverse order; answers that
  // queue while a write is in flight go out together.
  class StreamReactor : public grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse> {
   public:
    explicit StreamReactor(TestCaseService& service) : service_(service) { StartRead(&request_); }

    void OnReadDone(bool ok) override {
      Action action;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!ok) {
          reads_done_ = true;
        } else if (!service_.Take(request_, next_index_, pending_)) {
          failing_ = true;
          pending_.clear();
        }
        action = NextLocked();
        if (ok && !failing_) action.read = true;
      }
      Perform(action);
    }

    void OnWriteDone(bool ok) override {
      Action action;
      {
        std::lock_guard<std::mutex> lock(mu_);
        writing_ = false;
        if (ok) service_.Written(response_);
        response_.Clear();
        action = NextLocked();
      }
      Perform(action);
    }

    void OnDone() override { delete this; }

   private:
    struct Action {
      bool write = false;
      bool read = false;
      bool finish = false;
      grpc::Status status;
    };

    Action NextLocked() {
      Action a;
      if (writing_ || finished_) return a;
      if (failing_) {
        finished_ = true;
        a.finish = true;
        a.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "test server going away");
        return a;
      }
      if (!pending_.empty()) {
        for (Pending& p : pending_) *response_.add_answers() = std::move(p.answer);
        pending_.clear();
        writing_ = true;
        a.write = true;
        return a;
      }
      if (reads_done_) {
        finished_ = true;
        a.finish = true;
      }
      return a;
    }

    void Perform(const Action& a) {
      if (a.read) StartRead(&request_);
      if (a.write) StartWrite(&response_);
      if (a.finish) Finish(a.status);
    }

    TestCaseService& service_;
    v1::SubmitStreamRequest request_;
    v1::SubmitStreamResponse response_;
    std::mutex mu_;
    std::vector<Pending> pending_;
    uint64_t next_index_ = 0;
    bool writing_ = false;
    bool reads_done_ = false;
    bool failing_ = false;
    bool finished_ = false;
  };

  // Numbers and answers one request message; false when the stream must end.
  bool Take(const v1::SubmitStreamRequest& request, uint64_t& next_index, std::vector<Pending>& pending) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.request_messages;
    stats_.largest_message = std::max(stats_.largest_message, static_cast<size_t>(request.envelopes_size()));
    std::vector<Pending> answers;
    for (const v1::SignedEnvelope& signed_envelope : request.envelopes()) {
      if (policy_.fail_after >= 0 && stats_.envelopes >= static_cast<uint64_t>(policy_.fail_after)) return false;
      ++stats_.envelopes;
      v1::Envelope envelope;
      EXPECT_TRUE(envelope.ParseFromString(signed_envelope.envelope()));
      const std::string& id = envelope.envelope_id();
      if (auto it = policy_.predecessor.find(id); it != policy_.predecessor.end() && !answered_.contains(it->second)) {
        ++stats_.order_violations;
      }
      // Marked before the answer is written: the client cannot see it earlier.
      answered_.insert(id);
      Pending p;
      p.id = id;
      p.answer.set_index(next_index++);
      if (policy_.refuse.contains(id)) {
        p.answer.set_code(kRefusedCode);
        p.answer.set_message(absl::StrCat("refused ", id));
      } else {
        v1::SignedSubmissionReceipt* receipt = p.answer.mutable_response()->mutable_receipt();
        receipt->set_receipt(absl::StrCat("receipt of ", id));
        receipt->mutable_signature()->set_value("signature");
      }
      answers.push_back(std::move(p));
    }
    pending.insert(pending.end(), std::make_move_iterator(answers.rbegin()), std::make_move_iterator(answers.rend()));
    return true;
  }

  void Written(const v1::SubmitStreamResponse& response) {
    std::lock_guard<std::mutex> lock(mu_);
    if (response.answers_size() > 1) ++stats_.answer_messages_with_several;
    for (int i = 0; i < response.answers_size(); ++i) {
      const v1::SubmitStreamAnswer& a = response.answers(i);
      if (i > 0 && a.index() < response.answers(i - 1).index()) ++stats_.out_of_order_answers;
      if (a.code() == 0) stats_.written_ok.insert(a.response().receipt().receipt().substr(sizeof("receipt of ") - 1));
    }
  }

  const ServerPolicy policy_;
  std::mutex mu_;
  ServerStats stats_;
  std::set<std::string> answered_;
};

class TestServer {
 public:
  explicit TestServer(ServerPolicy policy) : service_(std::move(policy)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~TestServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  bool started() const { return server_ != nullptr && port_ > 0; }
  ServerStats stats() { return service_.stats(); }

  // Separate connections, as the load generator makes them.
  std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>> Stubs(size_t agencies, int connections) {
    std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>> stubs(agencies);
    for (size_t a = 0; a < agencies; ++a) {
      for (int c = 0; c < connections; ++c) {
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        args.SetInt(GRPC_ARG_CHANNEL_ID, static_cast<int>(a * 100 + c) + 1);
        stubs[a].push_back(v1::CaseService::NewStub(grpc::CreateCustomChannel(
            absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials(), args)));
      }
    }
    return stubs;
  }

 private:
  TestCaseService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::string IdOf(size_t i) { return absl::StrCat("envelope-", i); }

PreparedSubmit Prepared(const std::string& id, int agency) {
  PreparedSubmit p;
  v1::Envelope envelope;
  envelope.set_envelope_id(id);
  p.request.mutable_envelope()->set_envelope(envelope.SerializeAsString());
  p.request.mutable_envelope()->mutable_signature()->set_value("signature");
  p.agency = agency;
  return p;
}

// `n` independent envelopes from one agency.
Workload Independent(size_t n) {
  Workload w;
  w.agencies = {"510100.epb"};
  for (size_t i = 0; i < n; ++i) w.submits.push_back(Prepared(IdOf(i), 0));
  return w;
}

// Per case, back to back: a transfer (agency 0), then a receipt and a filing
// (agency 1), each depending on the one before.
Workload Chains(size_t cases, ServerPolicy& policy) {
  Workload w;
  w.agencies = {"510100.epb", "510100.psb"};
  for (size_t c = 0; c < cases; ++c) {
    for (int step = 0; step < 3; ++step) {
      const size_t i = w.submits.size();
      PreparedSubmit p = Prepared(IdOf(i), step == 0 ? 0 : 1);
      if (step > 0) {
        p.predecessor = static_cast<int64_t>(i - 1);
        w.submits[i - 1].has_dependent = true;
        policy.predecessor[IdOf(i)] = IdOf(i - 1);
      }
      w.submits.push_back(std::move(p));
    }
  }
  return w;
}

DriverOptions StreamOptions() {
  DriverOptions o;
  o.api = DriverApi::kStream;
  o.concurrency = 64;
  o.duration = absl::Seconds(60);  // closed-loop runs end when the envelopes run out
  o.call_timeout = absl::Seconds(30);
  o.sample_receipts = 100000;
  return o;
}

uint64_t Answered(const RunResult& r) { return r.ok + r.bad_receipts + r.errors(); }

TEST(StreamDriverTest, EveryEnvelopeIsAnsweredOnceOnItsOwnRequest) {
  ServerPolicy policy;
  const size_t n = 3000;
  for (size_t i = 0; i < n; i += 7) policy.refuse.insert(IdOf(i));
  TestServer server(policy);
  ASSERT_TRUE(server.started());
  const Workload workload = Independent(n);

  const RunResult r = RunLoad(server.Stubs(1, 2), workload, StreamOptions());

  EXPECT_TRUE(r.ran_out_of_requests);
  EXPECT_EQ(r.sent, n);
  EXPECT_EQ(Answered(r), n);
  EXPECT_EQ(r.errors_by_code[kRefusedCode], policy.refuse.size());
  EXPECT_EQ(r.errors(), policy.refuse.size());
  EXPECT_EQ(r.ok, n - policy.refuse.size());
  EXPECT_EQ(r.latencies_ns.size(), r.ok);
  EXPECT_EQ(r.stray_answers, 0u);
  EXPECT_EQ(r.failed_streams, 0u);
  // Each request carries the outcome of its own envelope.
  ASSERT_EQ(r.code_by_request.size(), n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(r.code_by_request[i], policy.refuse.contains(IdOf(i)) ? kRefusedCode : 0) << IdOf(i);
  }
  ASSERT_TRUE(r.first_error_message.contains(kRefusedCode));
  const std::string& refused = r.first_error_message.at(kRefusedCode);
  ASSERT_THAT(refused, ::testing::StartsWith("refused "));
  EXPECT_TRUE(policy.refuse.contains(refused.substr(sizeof("refused ") - 1))) << refused;
  // The receipts kept are those of the accepted envelopes, each once.
  std::set<std::string> receipts;
  for (const v1::SignedSubmissionReceipt& receipt : r.receipts) receipts.insert(receipt.receipt());
  EXPECT_EQ(receipts.size(), r.ok);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(receipts.contains(absl::StrCat("receipt of ", IdOf(i))), !policy.refuse.contains(IdOf(i))) << IdOf(i);
  }

  const ServerStats s = server.stats();
  EXPECT_EQ(s.envelopes, n);
  // Under load, envelopes queued behind a write travel together.
  EXPECT_LT(s.request_messages, n);
  EXPECT_EQ(r.stream_messages, s.request_messages);
  EXPECT_EQ(r.stream_envelopes_written, n);
  EXPECT_LE(s.largest_message, 64u);
  // The server really did answer out of order and several at a time.
  EXPECT_GT(s.out_of_order_answers, 0u);
  EXPECT_GT(s.answer_messages_with_several, 0u);
}

TEST(StreamDriverTest, NoMessageCarriesMoreThanTheStreamBatch) {
  TestServer server({});
  ASSERT_TRUE(server.started());
  const Workload workload = Independent(1500);
  DriverOptions options = StreamOptions();

  options.stream_batch = 4;
  RunResult r = RunLoad(server.Stubs(1, 1), workload, options);
  EXPECT_EQ(r.ok, 1500u);
  EXPECT_LE(server.stats().largest_message, 4u);
  EXPECT_GE(r.stream_messages, 1500u / 4);

  TestServer single({});
  ASSERT_TRUE(single.started());
  options.stream_batch = 1;
  r = RunLoad(single.Stubs(1, 1), workload, options);
  EXPECT_EQ(r.ok, 1500u);
  EXPECT_EQ(single.stats().request_messages, 1500u);
  EXPECT_EQ(single.stats().largest_message, 1u);
}

TEST(StreamDriverTest, DependentIsSentOnlyAfterItsPredecessorIsAnswered) {
  ServerPolicy policy;
  const size_t cases = 400;
  Workload workload = Chains(cases, policy);
  // A refused transfer still releases its receipt, which is then sent.
  policy.refuse.insert(IdOf(0));
  TestServer server(policy);
  ASSERT_TRUE(server.started());

  const RunResult r = RunLoad(server.Stubs(2, 2), workload, StreamOptions());

  EXPECT_EQ(r.sent, 3 * cases);
  EXPECT_EQ(Answered(r), 3 * cases);
  EXPECT_EQ(r.errors(), 1u);
  EXPECT_EQ(r.code_by_request[0], kRefusedCode);
  EXPECT_EQ(r.code_by_request[1], 0);
  const ServerStats s = server.stats();
  EXPECT_EQ(s.envelopes, 3 * cases);
  EXPECT_EQ(s.order_violations, 0u);
}

TEST(StreamDriverTest, OpenLoopCountsEverySentEnvelopeOnce) {
  TestServer server({});
  ASSERT_TRUE(server.started());
  const Workload workload = Independent(4000);
  DriverOptions options = StreamOptions();
  options.rate = 4000;
  options.duration = absl::Milliseconds(250);

  const RunResult r = RunLoad(server.Stubs(1, 2), workload, options);

  // The schedule sends the first envelopes of the workload, in order.
  EXPECT_GT(r.sent, 500u);
  EXPECT_LE(r.sent, 1001u);
  EXPECT_EQ(r.ok, r.sent);
  EXPECT_EQ(r.errors(), 0u);
  EXPECT_EQ(server.stats().envelopes, r.sent);
  for (size_t i = 0; i < workload.submits.size(); ++i) {
    EXPECT_EQ(r.code_by_request[i], i < r.sent ? 0 : -1) << i;
  }
}

TEST(StreamDriverTest, EnvelopesOfAStreamTheServerEndsAreErrorsWithItsStatus) {
  ServerPolicy policy;
  policy.fail_after = 500;
  TestServer server(policy);
  ASSERT_TRUE(server.started());
  const Workload workload = Independent(3000);

  const RunResult r = RunLoad(server.Stubs(1, 1), workload, StreamOptions());

  EXPECT_EQ(r.failed_streams, 1u);
  EXPECT_EQ(r.first_stream_error_code, kGoneCode);
  EXPECT_EQ(r.first_stream_error, "test server going away");
  EXPECT_EQ(Answered(r), r.sent);
  EXPECT_GT(r.ok, 0u);
  EXPECT_LE(r.ok, 500u);
  EXPECT_GT(r.errors_by_code[kGoneCode], 0u);
  EXPECT_EQ(r.errors(), r.errors_by_code[kGoneCode]);
  ASSERT_TRUE(r.first_error_message.contains(kGoneCode));
  EXPECT_EQ(r.first_error_message.at(kGoneCode), "test server going away");
  // Exactly the envelopes the server answered are OK; every other one sent is
  // an error, and none is left without an outcome.
  const ServerStats s = server.stats();
  uint64_t never_sent = 0;
  for (size_t i = 0; i < workload.submits.size(); ++i) {
    const int code = r.code_by_request[i];
    if (code == -1) {
      ++never_sent;
    } else if (code == 0) {
      EXPECT_TRUE(s.written_ok.contains(IdOf(i))) << IdOf(i);
    } else {
      EXPECT_EQ(code, kGoneCode) << IdOf(i);
      EXPECT_FALSE(s.written_ok.contains(IdOf(i))) << IdOf(i);
    }
  }
  EXPECT_EQ(never_sent, workload.submits.size() - r.sent);
  EXPECT_EQ(s.written_ok.size(), r.ok);
}

}  // namespace
}  // namespace caselink::loadgen
