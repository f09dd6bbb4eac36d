// The outbox relay's own cost: KafkaRelay draining the store's deliveries to a publisher
// that acknowledges every record at once on its own thread (as librdkafka's poll thread
// reports deliveries), next to the read of the same rows it cannot avoid
// (ReadUnpublishedDeliveries in pages, each envelope serialized as a record value),
// measured in the same run. The broker's side is measured by caselink-loadgen --kafka.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapters/store/store.h"
#include "benchmark/benchmark.h"
#include "gateway/kafka_relay.h"
#include "tests/bench/bench_support.h"

namespace caselink {
namespace {

using bench::Die;
using bench::TempDir;

constexpr int kEnvelopes = 10000;  // two deliveries each
constexpr int kDeliveries = 2 * kEnvelopes;

// A store holding kEnvelopes transfers of ~1 KiB, each delivered to two agencies and not
// yet published: what the relay finds after a burst of handoffs.
struct FilledStore {
  TempDir dir;
  std::unique_ptr<Store> store;
};

std::unique_ptr<FilledStore> Fill() {
  auto filled = std::make_unique<FilledStore>();
  SqliteStoreOptions options;
  options.data_dir = filled->dir.path();
  // Durable, as in the gateway: the relay's marks are group commits with an fsync each.
  auto store = OpenSqliteStore(options);
  if (!store.ok()) Die(std::string(store.status().message()));
  filled->store = std::move(*store);
  v1::SignedEnvelope signed_envelope;
  signed_envelope.set_envelope(std::string(1024, 'e'));
  signed_envelope.mutable_signature()->set_value(std::string(64, 's'));
  v1::SignedSubmissionReceipt receipt;
  receipt.set_receipt(std::string(200, 'r'));
  const std::string envelope_bytes = signed_envelope.SerializeAsString();
  const std::string receipt_bytes = receipt.SerializeAsString();
  for (int first = 0; first < kEnvelopes; first += 500) {
    absl::Status written = filled->store->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
      for (int i = first; i < first + 500 && i < kEnvelopes; ++i) {
        const std::string id = absl::StrCat("env-", i);
        const std::string case_id = absl::StrCat("case-", i % 997);
        if (auto s = txn.PutEnvelope({id, "digest", "510100.epb", case_id, envelope_bytes, receipt_bytes}); !s.ok()) {
          return s;
        }
        for (const char* agency : {"510100.psb", "510100.pro"}) {
          v1::Delivery d;
          d.set_recipient_agency(agency);
          d.set_case_id(case_id);
          d.set_envelope_id(id);
          d.set_action("transfer");
          d.set_sender_agency("510100.epb");
          if (auto seq = txn.AddEnvelopeDelivery(d); !seq.ok()) return seq.status();
        }
      }
      return absl::OkStatus();
    });
    if (!written.ok()) Die(std::string(written.message()));
  }
  return filled;
}

// Acknowledges every record on its own thread, in order.
class AckingPublisher final : public Publisher {
 public:
  AckingPublisher() : thread_([this] { Run(); }) {}
  ~AckingPublisher() override { Close(absl::Seconds(1)); }

  absl::Status Publish(BusRecord record, DeliveryCallback on_delivery) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return absl::UnavailableError("closed");
    bytes_ += record.value.size();
    pending_.push_back(std::move(on_delivery));
    cv_.notify_one();
    return absl::OkStatus();
  }
  size_t Flush(absl::Duration timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return pending_.empty() && !running_; });
    return pending_.size();
  }
  size_t Close(absl::Duration timeout) override {
    const size_t left = Flush(timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return 0;
      closed_ = true;
    }
    cv_.notify_all();
    thread_.join();
    return left;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return closed_ || !pending_.empty(); });
      if (pending_.empty()) return;
      std::deque<DeliveryCallback> batch;
      batch.swap(pending_);
      running_ = true;
      lock.unlock();
      for (DeliveryCallback& callback : batch) callback(absl::OkStatus());
      lock.lock();
      running_ = false;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DeliveryCallback> pending_;
  bool running_ = false;
  bool closed_ = false;
  uint64_t bytes_ = 0;
  std::thread thread_;
};

void BM_OutboxRead(benchmark::State& state) {
  int64_t rows = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::unique_ptr<FilledStore> filled = Fill();
    state.ResumeTiming();
    uint64_t after = 0;
    for (;;) {
      auto page = filled->store->ReadUnpublishedDeliveries(after, 500);
      if (!page.ok()) Die(std::string(page.status().message()));
      if (page->empty()) break;
      for (const v1::Delivery& d : *page) {
        benchmark::DoNotOptimize(d.envelope().SerializeAsString());
        after = d.sequence();
        ++rows;
      }
    }
    state.PauseTiming();
    filled.reset();
    state.ResumeTiming();
  }
  if (rows != state.iterations() * kDeliveries) Die("the read missed rows");
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_OutboxRead)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_RelayToAckingPublisher(benchmark::State& state) {
  int64_t published = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::unique_ptr<FilledStore> filled = Fill();
    AckingPublisher publisher;
    KafkaRelayOptions options;
    options.poll_interval = absl::Milliseconds(1);
    KafkaRelay relay(*filled->store, publisher, options);
    state.ResumeTiming();
    relay.Start();
    while (relay.published() < static_cast<uint64_t>(kDeliveries)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    state.PauseTiming();
    published += static_cast<int64_t>(relay.published());
    relay.Stop(absl::Seconds(5));
    publisher.Close(absl::Seconds(1));
    filled.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(published);
}
BENCHMARK(BM_RelayToAckingPublisher)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace caselink

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  caselink::bench::RateCollector r;
  benchmark::RunSpecifiedBenchmarks(&r);
  benchmark::Shutdown();
  const double read = r.Rate("BM_OutboxRead/iterations:3/real_time");
  const double relay = r.Rate("BM_RelayToAckingPublisher/iterations:3/real_time");
  std::printf("\noutbox read (the rows and record values the relay must produce): %.0f deliveries/s\n", read);
  std::printf("relay to an acknowledging publisher (read, records, reports, marks published): %.0f deliveries/s\n",
              relay);
  std::printf("relay / read: %.3f\n", read > 0 ? relay / read : 0);
  return 0;
}
