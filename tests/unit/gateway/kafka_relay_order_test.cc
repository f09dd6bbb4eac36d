// Strict per-case order of the outbox relay when a record fails: with a publisher that fails
// chosen records once (as a message timeout or a rebuilt producer would), later rows of the
// same case never reach the topic before the failed row does, while other cases go on.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/store/store.h"
#include "gateway/kafka_relay.h"
#include "gtest/gtest.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

// Holds every record until the test completes the pending ones ("a broker round"); records
// named (topic, envelope id) in the failure budget fail once and do not reach the topic.
class SteppedPublisher final : public Publisher {
 public:
  absl::Status Publish(BusRecord record, DeliveryCallback on_delivery) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.emplace_back(std::move(record), std::move(on_delivery));
    cv_.notify_all();
    return absl::OkStatus();
  }
  size_t Flush(absl::Duration) override {
    CompleteAll();
    return 0;
  }
  size_t Close(absl::Duration) override { return 0; }

  void FailOnce(const std::string& topic, const std::string& envelope_id) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_once_.insert(topic + "/" + envelope_id);
  }
  bool WaitForPending(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return !pending_.empty(); });
  }
  // Reports every pending record, in the order it was accepted.
  void CompleteAll() {
    std::deque<std::pair<BusRecord, DeliveryCallback>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
    }
    for (auto& [record, callback] : batch) {
      std::string envelope_id;
      for (const auto& [name, value] : record.headers) {
        if (name == "envelope-id") envelope_id = value;
      }
      bool fail = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        fail = fail_once_.erase(record.topic + "/" + envelope_id) != 0;
        if (!fail) topics_[record.topic].push_back(envelope_id);
      }
      callback(fail ? absl::DeadlineExceededError("message timed out (injected)") : absl::OkStatus());
    }
  }
  std::vector<std::string> Topic(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return topics_[name];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<BusRecord, DeliveryCallback>> pending_;
  std::set<std::string> fail_once_;
  std::map<std::string, std::vector<std::string>> topics_;  // envelope ids as they landed
};

v1::Delivery Row(const std::string& recipient, const std::string& case_id, const std::string& envelope_id) {
  v1::Delivery d;
  d.set_recipient_agency(recipient);
  d.set_reason(v1::Delivery::ADDRESSEE);
  d.set_case_id(case_id);
  d.set_envelope_id(envelope_id);
  d.set_action("transfer");
  d.set_sender_agency("510100.epb");
  d.mutable_envelope()->set_envelope(envelope_id);
  return d;
}

TEST(KafkaRelayOrderTest, LaterRowsOfACaseNeverOvertakeAFailedRow) {
  SqliteStoreOptions store_options;
  store_options.data_dir = testing::MakeTempDir();
  auto store = OpenSqliteStore(store_options);
  ASSERT_TRUE(store.ok()) << store.status();
  // Case A: three envelopes, the first to two recipients; case B: two envelopes.
  std::vector<v1::Delivery> rows = {Row("510100.psb", "A", "A1"), Row("510100.pro", "A", "A1"),
                                    Row("510100.psb", "B", "B1"), Row("510100.psb", "A", "A2"),
                                    Row("510100.psb", "B", "B2"), Row("510100.psb", "A", "A3")};
  ASSERT_TRUE((*store)
                  ->WriteAndWait([&](StoreTransaction& txn) {
                    for (const v1::Delivery& d : rows) {
                      if (auto seq = txn.AddDelivery(d); !seq.ok()) return seq.status();
                    }
                    return absl::OkStatus();
                  })
                  .ok());

  SteppedPublisher publisher;
  // A1's PSB record and its events record each fail once, in different rounds' rows.
  publisher.FailOnce("t.inbox.510100.psb", "A1");
  publisher.FailOnce("t.events", "A1");
  KafkaRelayOptions options;
  options.topic_prefix = "t";
  options.poll_interval = absl::Milliseconds(20);
  options.retry_pause = absl::Milliseconds(20);
  KafkaRelay relay(**store, publisher, options);
  relay.Start();

  // Broker rounds until the outbox is empty.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  uint64_t left = rows.size();
  while (absl::Now() < deadline) {
    auto count = (*store)->CountUnpublishedDeliveries();
    ASSERT_TRUE(count.ok());
    left = *count;
    if (left == 0) break;
    if (publisher.WaitForPending(absl::Milliseconds(200))) publisher.CompleteAll();
  }
  relay.Stop(absl::Seconds(1));
  EXPECT_EQ(left, 0u);

  // On every topic, the first arrival of each envelope keeps the case's order.
  auto first_arrivals = [](const std::vector<std::string>& ids) {
    std::vector<std::string> order;
    std::set<std::string> seen;
    for (const std::string& id : ids) {
      if (seen.insert(id).second) order.push_back(id);
    }
    return order;
  };
  const std::vector<std::string> psb = first_arrivals(publisher.Topic("t.inbox.510100.psb"));
  auto position = [&](const std::vector<std::string>& order, const std::string& id) {
    return std::find(order.begin(), order.end(), id) - order.begin();
  };
  ASSERT_EQ(psb.size(), 5u);
  EXPECT_LT(position(psb, "A1"), position(psb, "A2"));
  EXPECT_LT(position(psb, "A2"), position(psb, "A3"));
  EXPECT_LT(position(psb, "B1"), position(psb, "B2"));
  // Nothing of A2 or A3 was on the topic before A1's successful retry: not even a duplicate.
  const std::vector<std::string> raw = publisher.Topic("t.inbox.510100.psb");
  EXPECT_EQ(std::find(raw.begin(), raw.end(), "A1") - raw.begin(), position(raw, "A1"));
  for (const std::string later : {"A2", "A3"}) {
    EXPECT_GT(std::find(raw.begin(), raw.end(), later) - raw.begin(), std::find(raw.begin(), raw.end(), "A1") - raw.begin());
  }
  const std::vector<std::string> events = first_arrivals(publisher.Topic("t.events"));
  EXPECT_LT(position(events, "A1"), position(events, "A2"));
  EXPECT_LT(position(events, "A2"), position(events, "A3"));
  EXPECT_EQ(publisher.Topic("t.inbox.510100.pro"), std::vector<std::string>{"A1"});
  // Case order cost held passes; case B was not held behind case A's failure.
  EXPECT_GT(relay.held_back(), 0u);
  EXPECT_LT(position(psb, "B1"), position(psb, "A1")) << "B1 went out while A1 was being retried";
  (*store)->Shutdown();
}

}  // namespace
}  // namespace caselink
