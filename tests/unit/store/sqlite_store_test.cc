// Tests of the SQLite store: the Store contract, group commit, durability of
// done callbacks, and recovery after a clean stop and after SIGKILL.
#include "adapters/store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/store/store.h"
#include "google/protobuf/util/message_differencer.h"

namespace caselink {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "caselink-store-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SqliteStoreOptions OptionsFor(const std::string& dir) {
  SqliteStoreOptions options;
  options.data_dir = dir;
  return options;
}

std::unique_ptr<Store> OpenOrDie(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir));
  if (!store.ok()) {
    ADD_FAILURE() << "open " << dir << ": " << store.status();
    return nullptr;
  }
  return *std::move(store);
}

v1::Case MakeCase(const std::string& id, v1::CaseState state, const std::string& originator,
                  const std::string& addressee, std::vector<std::string> copied,
                  const std::string& region, v1::Track track, int64_t updated_micros) {
  v1::Case c;
  c.set_case_id(id);
  c.set_state(state);
  c.set_originator(originator);
  c.set_addressee(addressee);
  for (const auto& agency : copied) c.add_copied(agency);
  c.set_region(region);
  c.set_track(track);
  c.mutable_updated_at()->set_seconds(updated_micros / 1000000);
  c.mutable_updated_at()->set_nanos(static_cast<int32_t>(updated_micros % 1000000) * 1000);
  c.set_version(1);
  return c;
}

v1::Case SimpleCase(const std::string& id) {
  return MakeCase(id, v1::RECEIVED, "510100.epb", "510100.psb", {"510100.pro"}, "510100",
                  v1::CRIMINAL, 1'700'000'000'000'000);
}

v1::Delivery MakeDelivery(const std::string& agency, const std::string& case_id) {
  v1::Delivery d;
  d.set_recipient_agency(agency);
  d.set_case_id(case_id);
  d.set_reason(v1::Delivery::ADDRESSEE);
  d.set_action("transfer");
  return d;
}

// Adds one delivery in a work of its own: its sequence, or why it was not stored.
absl::StatusOr<uint64_t> AddDeliveryAndWait(Store& store, const std::string& agency, const std::string& case_id) {
  absl::StatusOr<uint64_t> seq = absl::InternalError("the work did not run");
  absl::Status written = store.WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
    seq = txn.AddDelivery(MakeDelivery(agency, case_id));
    return seq.status();
  });
  if (!written.ok()) return written;
  return seq;
}

v1::AuditEntry MakeAuditEntry(uint64_t index) {
  v1::AuditEntry e;
  e.set_index(index);
  e.set_record(absl::StrCat("record-", index));
  e.set_entry_hash(std::string("\x00\xff", 2) + absl::StrCat("hash-", index));
  return e;
}

std::vector<std::string> Ids(const std::vector<v1::Case>& cases) {
  std::vector<std::string> ids;
  for (const auto& c : cases) ids.push_back(c.case_id());
  return ids;
}

// Counts done callbacks and lets the test wait for a number of them.
class DoneCounter {
 public:
  Store::Done Callback(absl::Status* out) {
    return [this, out](absl::Status status) {
      std::lock_guard<std::mutex> lock(mu_);
      *out = std::move(status);
      ++count_;
      cv_.notify_all();
    };
  }
  void WaitFor(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

// Queues a work that blocks the writer until Release(), and returns only once
// the writer is inside it: works queued meanwhile all form the next group.
class WriterGate {
 public:
  explicit WriterGate(Store& store) {
    std::future<void> entered = entered_.get_future();
    store.Write(
        [this](StoreTransaction&) {
          entered_.set_value();
          release_.wait();
          return absl::OkStatus();
        },
        [this](absl::Status status) {
          std::lock_guard<std::mutex> lock(mu_);
          status_ = status;
          done_ = true;
          cv_.notify_all();
        });
    entered.wait();
  }
  void Release() { release_.count_down(); }
  absl::Status WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return status_;
  }

 private:
  std::promise<void> entered_;
  std::latch release_{1};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    store_.reset();
    store_ = OpenOrDie(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  absl::Status Put(const v1::Case& c) {
    return store_->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(c); });
  }
  std::vector<std::string> List(const CaseFilter& filter) {
    absl::StatusOr<std::vector<v1::Case>> cases = store_->ListCases(filter);
    EXPECT_TRUE(cases.ok()) << cases.status();
    return cases.ok() ? Ids(*cases) : std::vector<std::string>{};
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, CaseRoundTrip) {
  v1::Case c = SimpleCase("case-1");
  c.set_case_name("river discharge");
  auto* suspect = c.add_suspects();
  suspect->set_kind(v1::Suspect::COMPANY);
  suspect->set_name("Acme Chemicals");
  auto* deadline = c.add_deadlines();
  deadline->set_deadline_id("d1");
  deadline->set_rule(v1::Deadline::NATURAL_DAYS);
  ASSERT_TRUE(Put(c).ok());

  absl::StatusOr<std::optional<v1::Case>> read = store_->ReadCase("case-1");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(**read, c));

  // The writer sees the case too, and a replacement overwrites it.
  c.set_state(v1::FILED);
  c.set_version(2);
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    absl::StatusOr<std::optional<v1::Case>> got = txn.GetCase("case-1");
                    if (!got.ok()) return got.status();
                    if (!got->has_value() || (*got)->version() != 1) {
                      return absl::InternalError("writer did not see version 1");
                    }
                    return txn.PutCase(c);
                  })
                  .ok());
  read = store_->ReadCase("case-1");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->state(), v1::FILED);
  EXPECT_EQ((*read)->version(), 2u);

  absl::StatusOr<std::optional<v1::Case>> missing = store_->ReadCase("no-such-case");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  EXPECT_EQ(Put(v1::Case()).code(), absl::StatusCode::kInvalidArgument);
}

// UpdateCase rewrites only what changed; the indexes must still follow the
// case exactly: parties for the agency filter, deadlines for the engine.
TEST_F(StoreTest, UpdateCaseKeepsPartiesAndDeadlineIndexInStep) {
  auto deadline = [](const std::string& id, v1::Deadline::Status status) {
    v1::Deadline d;
    d.set_deadline_id(id);
    d.set_duty(id);
    d.set_owed_by("510100.psb");
    d.set_status(status);
    d.mutable_due_at()->set_seconds(1'800'000'000);
    return d;
  };
  auto running = [this] {
    std::vector<std::string> ids;
    const std::vector<RunningDeadline> deadlines = store_->ListRunningDeadlines().value();
    for (const RunningDeadline& d : deadlines) ids.push_back(d.deadline_id);
    return ids;
  };
  auto cases_of = [this](const std::string& agency) {
    CaseFilter filter;
    filter.agency = agency;
    return List(filter).size();
  };
  v1::Case first = SimpleCase("case-1");
  *first.add_deadlines() = deadline("d1", v1::Deadline::RUNNING);
  ASSERT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.UpdateCase(first, nullptr); }).ok());
  EXPECT_EQ(running(), std::vector<std::string>{"d1"});
  EXPECT_EQ(cases_of("510100.psb"), 1u);

  // Addressee changes, d1 is met, d2 starts.
  v1::Case second = first;
  second.set_addressee("510104.psb");
  second.mutable_deadlines(0)->set_status(v1::Deadline::MET);
  *second.add_deadlines() = deadline("d2", v1::Deadline::RUNNING);
  ASSERT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.UpdateCase(second, &first); }).ok());
  EXPECT_EQ(running(), std::vector<std::string>{"d2"});
  EXPECT_EQ(cases_of("510100.psb"), 0u);
  EXPECT_EQ(cases_of("510104.psb"), 1u);
  EXPECT_EQ(cases_of("510100.pro"), 1u);

  // Unchanged parties and deadlines: nothing to rewrite, still indexed.
  v1::Case third = second;
  third.set_state(v1::FILED);
  ASSERT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.UpdateCase(third, &second); }).ok());
  EXPECT_EQ(running(), std::vector<std::string>{"d2"});
  EXPECT_EQ(cases_of("510104.psb"), 1u);

  // A deadline no longer in the case leaves the index.
  v1::Case fourth = third;
  fourth.mutable_deadlines()->RemoveLast();
  ASSERT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.UpdateCase(fourth, &third); }).ok());
  EXPECT_TRUE(running().empty());
  EXPECT_EQ(store_->ReadCase("case-1").value()->state(), v1::FILED);
}

TEST_F(StoreTest, TimelineInVersionOrder) {
  for (uint64_t version : {3, 1, 2}) {
    v1::TimelineEvent event;
    event.set_case_id("case-1");
    event.set_version(version);
    event.set_action(absl::StrCat("action-", version));
    ASSERT_TRUE(store_
                    ->WriteAndWait([event](StoreTransaction& txn) {
                      return txn.AppendTimelineEvent(event);
                    })
                    .ok());
  }
  v1::TimelineEvent other;
  other.set_case_id("case-2");
  other.set_version(1);
  ASSERT_TRUE(
      store_->WriteAndWait([&](StoreTransaction& txn) { return txn.AppendTimelineEvent(other); })
          .ok());

  absl::StatusOr<std::vector<v1::TimelineEvent>> timeline = store_->ReadTimeline("case-1");
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  ASSERT_EQ(timeline->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*timeline)[i].version(), i + 1);
    EXPECT_EQ((*timeline)[i].action(), absl::StrCat("action-", i + 1));
  }

  // A version cannot be written twice.
  v1::TimelineEvent again;
  again.set_case_id("case-1");
  again.set_version(2);
  EXPECT_EQ(
      store_->WriteAndWait([&](StoreTransaction& txn) { return txn.AppendTimelineEvent(again); })
          .code(),
      absl::StatusCode::kAlreadyExists);

  absl::StatusOr<std::vector<v1::TimelineEvent>> none = store_->ReadTimeline("case-9");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A case has a document when one of its accepted envelopes referred to it:
// the envelope's timeline event lists its documents.
TEST_F(StoreTest, CaseDocumentsAreThoseItsTimelineLists) {
  auto document = [](const std::string& digest) {
    v1::DocumentRef ref;
    ref.mutable_digest()->set_algorithm(v1::SHA256);
    ref.mutable_digest()->set_value(digest);
    return ref;
  };
  v1::TimelineEvent first;
  first.set_case_id("case-1");
  first.set_version(1);
  *first.add_documents() = document("\xab\xcd");
  v1::TimelineEvent second = first;
  second.set_version(2);
  second.clear_documents();
  *second.add_documents() = document("\x01\x02");
  *second.add_documents() = document("\xab\xcd");
  v1::TimelineEvent other;
  other.set_case_id("case-2");
  other.set_version(1);
  *other.add_documents() = document("\xff\xff");
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    for (const v1::TimelineEvent* e : {&first, &second, &other}) {
                      if (absl::Status s = txn.AppendTimelineEvent(*e); !s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(store_->CaseHasDocument("case-1", "abcd").value_or(false), true);
  EXPECT_EQ(store_->CaseHasDocument("case-1", "0102").value_or(false), true);
  EXPECT_EQ(store_->CaseHasDocument("case-1", "ffff").value_or(true), false);
  EXPECT_EQ(store_->CaseHasDocument("case-1", "ABCD").value_or(true), false) << "digests are lowercase hex";
  EXPECT_EQ(store_->CaseHasDocument("case-1", "abcd00").value_or(true), false);
  EXPECT_EQ(store_->CaseHasDocument("case-2", "ffff").value_or(false), true);
  EXPECT_EQ(store_->CaseHasDocument("case-2", "abcd").value_or(true), false);
  EXPECT_EQ(store_->CaseHasDocument("case-3", "abcd").value_or(true), false);
}

TEST_F(StoreTest, EnvelopePutAndDuplicate) {
  StoredEnvelope envelope;
  envelope.envelope_id = "env-1";
  envelope.envelope_digest = std::string("\x00\x01\x02\xff", 4);
  envelope.sender_agency = "510100.epb";
  envelope.case_id = "case-1";
  envelope.signed_envelope = std::string("signed\0envelope", 15);
  envelope.signed_receipt = "receipt";
  ASSERT_TRUE(
      store_->WriteAndWait([&](StoreTransaction& txn) { return txn.PutEnvelope(envelope); }).ok());

  absl::StatusOr<std::optional<StoredEnvelope>> read = store_->ReadEnvelope("env-1");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->envelope_id, envelope.envelope_id);
  EXPECT_EQ((*read)->envelope_digest, envelope.envelope_digest);
  EXPECT_EQ((*read)->sender_agency, envelope.sender_agency);
  EXPECT_EQ((*read)->case_id, envelope.case_id);
  EXPECT_EQ((*read)->signed_envelope, envelope.signed_envelope);
  EXPECT_EQ((*read)->signed_receipt, envelope.signed_receipt);

  // The duplicate is refused, and the work's earlier write (a case) vanishes
  // with it because the work returned the error.
  StoredEnvelope duplicate = envelope;
  duplicate.signed_receipt = "other receipt";
  absl::Status status = store_->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
    if (absl::Status s = txn.PutCase(SimpleCase("case-dup")); !s.ok()) return s;
    absl::StatusOr<std::optional<StoredEnvelope>> existing = txn.GetEnvelope("env-1");
    if (!existing.ok() || !existing->has_value()) return absl::InternalError("not visible");
    return txn.PutEnvelope(duplicate);
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  read = store_->ReadEnvelope("env-1");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->signed_receipt, "receipt");
  EXPECT_FALSE(store_->ReadCase("case-dup").value().has_value());

  EXPECT_FALSE(store_->ReadEnvelope("env-2").value().has_value());
}

TEST_F(StoreTest, AuditAppendSequenceAndWrongIndex) {
  absl::StatusOr<uint64_t> size = store_->ReadAuditSize();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 0u);
  ASSERT_TRUE(store_
                  ->WriteAndWait([](StoreTransaction& txn) -> absl::Status {
                    absl::StatusOr<AuditHead> head = txn.GetAuditHead();
                    if (!head.ok()) return head.status();
                    if (head->size != 0 || !head->last_entry_hash.empty()) {
                      return absl::InternalError("head of an empty log is not empty");
                    }
                    return absl::OkStatus();
                  })
                  .ok());

  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_
                    ->WriteAndWait([i](StoreTransaction& txn) {
                      return txn.AppendAuditEntry(MakeAuditEntry(i));
                    })
                    .ok());
  }
  AuditHead head;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    absl::StatusOr<AuditHead> h = txn.GetAuditHead();
                    if (!h.ok()) return h.status();
                    head = *h;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(head.size, 3u);
  EXPECT_EQ(head.last_entry_hash, MakeAuditEntry(2).entry_hash());

  for (uint64_t wrong : {5, 1, 0}) {
    EXPECT_EQ(store_
                  ->WriteAndWait([wrong](StoreTransaction& txn) {
                    return txn.AppendAuditEntry(MakeAuditEntry(wrong));
                  })
                  .code(),
              absl::StatusCode::kFailedPrecondition)
        << wrong;
  }
  EXPECT_EQ(store_->ReadAuditSize().value_or(0), 3u);

  absl::StatusOr<std::vector<v1::AuditEntry>> entries = store_->ReadAuditEntries(1, 10);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_TRUE(MessageDifferencer::Equals((*entries)[0], MakeAuditEntry(1)));
  EXPECT_TRUE(MessageDifferencer::Equals((*entries)[1], MakeAuditEntry(2)));
  EXPECT_EQ(store_->ReadAuditEntries(0, 1).value().size(), 1u);
  EXPECT_TRUE(store_->ReadAuditEntries(3, 10).value().empty());
}

TEST_F(StoreTest, MerkleNodesPutGetAndRead) {
  const std::string leaf(32, '\x01'), parent = std::string("\x00\xff", 2) + std::string(30, 'p');
  EXPECT_EQ(store_->ReadMerkleNode(0, 0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (txn.GetMerkleNode(0, 0).status().code() != absl::StatusCode::kNotFound) {
                      return absl::InternalError("node (0, 0) present before it was written");
                    }
                    if (auto s = txn.PutMerkleNode(0, 0, leaf); !s.ok()) return s;
                    if (auto s = txn.PutMerkleNode(0, 1, leaf); !s.ok()) return s;
                    if (auto s = txn.PutMerkleNode(1, 0, parent); !s.ok()) return s;
                    // The writer sees its own uncommitted nodes.
                    absl::StatusOr<std::string> got = txn.GetMerkleNode(1, 0);
                    if (!got.ok()) return got.status();
                    if (*got != parent) return absl::InternalError("node (1, 0) differs");
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(store_->ReadMerkleNode(0, 0).value(), leaf);
  EXPECT_EQ(store_->ReadMerkleNode(1, 0).value(), parent);  // binary bytes round-trip
  EXPECT_EQ(store_->ReadMerkleNode(0, 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadMerkleNode(2, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadMerkleNode(0, std::numeric_limits<uint64_t>::max()).status().code(),
            absl::StatusCode::kNotFound);
  // Level and index are both part of the key.
  EXPECT_EQ(store_->ReadMerkleNode(1, 1).status().code(), absl::StatusCode::kNotFound);

  // A stored node is never overwritten, even with the same bytes.
  for (const std::string& hash : {leaf, parent}) {
    EXPECT_EQ(store_
                  ->WriteAndWait([&](StoreTransaction& txn) {
                    return txn.PutMerkleNode(0, 1, hash);
                  })
                  .code(),
              absl::StatusCode::kAlreadyExists);
  }
  EXPECT_EQ(store_->ReadMerkleNode(0, 1).value(), leaf);
  EXPECT_EQ(store_
                ->WriteAndWait([](StoreTransaction& txn) {
                  return txn.PutMerkleNode(0, 5, "");
                })
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_
                ->WriteAndWait([&](StoreTransaction& txn) {
                  return txn.PutMerkleNode(0, std::numeric_limits<uint64_t>::max(), leaf);
                })
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A store holds trees of up to 2^62 leaves: their root and last leaf are
  // stored and read back; a node beyond them is refused, and not found.
  constexpr uint64_t kLastLeaf = (uint64_t{1} << 62) - 1;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (auto s = txn.PutMerkleNode(62, 0, parent); !s.ok()) return s;
                    return txn.PutMerkleNode(0, kLastLeaf, leaf);
                  })
                  .ok());
  EXPECT_EQ(store_->ReadMerkleNode(62, 0).value(), parent);
  EXPECT_EQ(store_->ReadMerkleNode(0, kLastLeaf).value(), leaf);
  for (const auto& [level, index] : std::vector<std::pair<uint32_t, uint64_t>>{
           {0, kLastLeaf + 1}, {1, (kLastLeaf + 1) / 2}, {62, 1}, {63, 0}, {64, 0}}) {
    absl::Status put = store_->WriteAndWait([&](StoreTransaction& txn) {
      return txn.PutMerkleNode(level, index, leaf);
    });
    EXPECT_EQ(put.code(), absl::StatusCode::kInvalidArgument) << level << " " << index;
    EXPECT_THAT(std::string(put.message()), ::testing::HasSubstr("outside the largest tree"));
    EXPECT_EQ(store_->ReadMerkleNode(level, index).status().code(), absl::StatusCode::kNotFound);
  }
}

TEST_F(StoreTest, MerkleNodesRollBackWithTheirWorkAndSurviveReopen) {
  const std::string a(32, 'a'), b(32, 'b');
  // The failing work's nodes vanish with it; the next work in the group stays.
  EXPECT_EQ(store_
                ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                  if (auto s = txn.PutMerkleNode(0, 0, a); !s.ok()) return s;
                  return absl::AbortedError("audit record refused");
                })
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store_->ReadMerkleNode(0, 0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (auto s = txn.PutMerkleNode(0, 0, b); !s.ok()) return s;
                    return txn.PutMerkleNode(0, 1, a);
                  })
                  .ok());
  Reopen();
  EXPECT_EQ(store_->ReadMerkleNode(0, 0).value(), b);
  EXPECT_EQ(store_->ReadMerkleNode(0, 1).value(), a);
}

// Later works of a group read the nodes earlier ones wrote; a node whose
// work failed is gone for them too, although the group ran it first.
TEST_F(StoreTest, MerkleNodesReadInTheirGroupAreThoseStillWritten) {
  const std::string a(32, 'a'), b(32, 'b');
  WriterGate gate(*store_);
  DoneCounter counter;
  absl::Status first, failing, reading;
  std::string read_kept, read_gone_code;
  store_->Write([&](StoreTransaction& txn) { return txn.PutMerkleNode(0, 0, a); }, counter.Callback(&first));
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        if (auto s = txn.PutMerkleNode(0, 1, b); !s.ok()) return s;
        if (absl::StatusOr<std::string> seen = txn.GetMerkleNode(0, 1); !seen.ok() || *seen != b) {
          return absl::InternalError("own node not readable");
        }
        return absl::AbortedError("audit record refused");
      },
      counter.Callback(&failing));
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        absl::StatusOr<std::string> kept = txn.GetMerkleNode(0, 0);
        if (!kept.ok()) return kept.status();
        read_kept = *kept;
        read_gone_code = absl::StatusCodeToString(txn.GetMerkleNode(0, 1).status().code());
        return absl::OkStatus();
      },
      counter.Callback(&reading));
  gate.Release();
  ASSERT_TRUE(gate.WaitDone().ok());
  counter.WaitFor(3);
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_EQ(failing.code(), absl::StatusCode::kAborted) << failing;
  ASSERT_TRUE(reading.ok()) << reading;
  EXPECT_EQ(read_kept, a);
  EXPECT_EQ(read_gone_code, "NOT_FOUND");
  EXPECT_EQ(store_->ReadMerkleNode(0, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, DeliveriesPendingAndAcknowledged) {
  std::vector<uint64_t> seq_a;
  uint64_t seq_b = 0;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    for (int i = 0; i < 3; ++i) {
                      v1::Delivery d = MakeDelivery("510100.psb", absl::StrCat("case-", i));
                      d.set_sequence(999);  // ignored
                      absl::StatusOr<uint64_t> seq = txn.AddDelivery(d);
                      if (!seq.ok()) return seq.status();
                      seq_a.push_back(*seq);
                      if (i == 0) {
                        absl::StatusOr<uint64_t> b = txn.AddDelivery(MakeDelivery("510100.pro", "x"));
                        if (!b.ok()) return b.status();
                        seq_b = *b;
                      }
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(seq_a.size(), 3u);
  EXPECT_LT(seq_a[0], seq_b);
  EXPECT_LT(seq_b, seq_a[1]);
  EXPECT_LT(seq_a[1], seq_a[2]);

  absl::StatusOr<std::vector<v1::Delivery>> pending =
      store_->ReadPendingDeliveries("510100.psb", 0, 100);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*pending)[i].sequence(), seq_a[i]);
    EXPECT_EQ((*pending)[i].case_id(), absl::StrCat("case-", i));
    EXPECT_EQ((*pending)[i].recipient_agency(), "510100.psb");
  }
  EXPECT_EQ(store_->ReadPendingDeliveries("510100.psb", seq_a[0], 100).value().size(), 2u);
  EXPECT_EQ(store_->ReadPendingDeliveries("510100.psb", 0, 1).value().size(), 1u);
  EXPECT_EQ(store_->ReadAcknowledgedThrough("510100.psb").value_or(99), 0u);

  auto ack = [&](const std::string& agency, uint64_t through) {
    uint64_t acked = 0;
    absl::Status status = store_->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
      absl::StatusOr<uint64_t> n = txn.AcknowledgeDeliveries(agency, through);
      if (!n.ok()) return n.status();
      acked = *n;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return acked;
  };
  EXPECT_EQ(ack("510100.psb", seq_a[1]), 2u);
  EXPECT_EQ(ack("510100.psb", seq_a[1]), 0u);  // already acknowledged

  pending = store_->ReadPendingDeliveries("510100.psb", 0, 100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].sequence(), seq_a[2]);
  EXPECT_EQ(store_->ReadAcknowledgedThrough("510100.psb").value_or(0), seq_a[1]);

  // The other agency is untouched.
  EXPECT_EQ(store_->ReadAcknowledgedThrough("510100.pro").value_or(99), 0u);
  EXPECT_EQ(store_->ReadPendingDeliveries("510100.pro", 0, 100).value().size(), 1u);

  // A huge bound acknowledges everything left.
  EXPECT_EQ(ack("510100.psb", UINT64_MAX), 1u);
  EXPECT_TRUE(store_->ReadPendingDeliveries("510100.psb", 0, 100).value().empty());
  EXPECT_EQ(store_->ReadAcknowledgedThrough("510100.psb").value_or(0), seq_a[2]);
}

// Publication on the bus is tracked apart from the agency's acknowledgement.
// Column `column` of every row `sql` returns, run on its own connection.
std::vector<std::string> RawQuery(const std::string& dir, const char* sql, int column = 0);  // below

// A transfer's deliveries refer to its stored envelope instead of carrying
// copies; every read returns them whole.
TEST_F(StoreTest, EnvelopeDeliveriesStoreTheEnvelopeOnceAndReadWhole) {
  v1::SignedEnvelope signed_envelope;
  signed_envelope.set_envelope(std::string(1024, 'e'));
  signed_envelope.mutable_signature()->set_key_id("510100.epb/sign-1");
  signed_envelope.mutable_signature()->set_value(std::string(64, 's'));
  v1::SignedSubmissionReceipt receipt;
  receipt.set_receipt(std::string(200, 'r'));
  receipt.mutable_signature()->set_value(std::string(64, 'g'));
  StoredEnvelope envelope{"env-1", "digest", "510100.epb", "case-1", signed_envelope.SerializeAsString(),
                          receipt.SerializeAsString()};
  absl::Status written = store_->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
    if (absl::Status s = txn.PutEnvelope(envelope); !s.ok()) return s;
    for (const char* agency : {"510100.psb", "510100.pro"}) {
      v1::Delivery d = MakeDelivery(agency, "case-1");
      d.set_envelope_id("env-1");
      if (auto seq = txn.AddEnvelopeDelivery(d); !seq.ok()) return seq.status();
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(written.ok()) << written;

  for (const char* agency : {"510100.psb", "510100.pro"}) {
    absl::StatusOr<std::vector<v1::Delivery>> pending = store_->ReadPendingDeliveries(agency, 0, 10);
    ASSERT_TRUE(pending.ok()) << pending.status();
    ASSERT_EQ(pending->size(), 1u) << agency;
    EXPECT_EQ((*pending)[0].recipient_agency(), agency);
    EXPECT_EQ((*pending)[0].envelope().SerializeAsString(), envelope.signed_envelope);
    EXPECT_EQ((*pending)[0].gateway_receipt().SerializeAsString(), envelope.signed_receipt);
  }
  absl::StatusOr<std::vector<v1::Delivery>> unpublished = store_->ReadUnpublishedDeliveries(0, 10);
  ASSERT_TRUE(unpublished.ok()) << unpublished.status();
  ASSERT_EQ(unpublished->size(), 2u);
  for (const v1::Delivery& d : *unpublished) {
    EXPECT_EQ(d.envelope().SerializeAsString(), envelope.signed_envelope);
    EXPECT_EQ(d.gateway_receipt().SerializeAsString(), envelope.signed_receipt);
  }
  // Stored once: each delivery row is far smaller than the envelope it refers to.
  EXPECT_EQ(RawQuery(dir_.path(), "SELECT count(*) FROM deliveries WHERE length(proto) < 200 AND "
                                  "envelope_ref = 'env-1'"),
            std::vector<std::string>{"2"});
}

TEST_F(StoreTest, EnvelopeDeliveryNeedsTheStoredEnvelopeAndNoCopy) {
  v1::Delivery d = MakeDelivery("510100.psb", "case-1");
  d.set_envelope_id("env-missing");
  absl::Status missing = store_->WriteAndWait(
      [&](StoreTransaction& txn) { return txn.AddEnvelopeDelivery(d).status(); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  EXPECT_NE(missing.message().find("env-missing"), std::string::npos) << missing;

  d.mutable_envelope()->set_envelope("copy");
  absl::Status copied = store_->WriteAndWait(
      [&](StoreTransaction& txn) { return txn.AddEnvelopeDelivery(d).status(); });
  EXPECT_EQ(copied.code(), absl::StatusCode::kInvalidArgument) << copied;
  EXPECT_TRUE(store_->ReadPendingDeliveries("510100.psb", 0, 10).value().empty());
}

TEST_F(StoreTest, DeliveriesPublishedIndependentlyOfAcknowledgement) {
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    for (const char* agency : {"510100.psb", "510100.pro", "510100.psb", "510100.court"}) {
                      absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery(agency, "case-p"));
                      if (!seq.ok()) return seq.status();
                      seqs.push_back(*seq);
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  auto sequences = [](const std::vector<v1::Delivery>& ds) {
    std::vector<uint64_t> out;
    for (const auto& d : ds) out.push_back(d.sequence());
    return out;
  };
  EXPECT_EQ(sequences(store_->ReadUnpublishedDeliveries(0, 100).value()), seqs);
  EXPECT_EQ(sequences(store_->ReadUnpublishedDeliveries(seqs[1], 100).value()),
            (std::vector<uint64_t>{seqs[2], seqs[3]}));
  EXPECT_EQ(sequences(store_->ReadUnpublishedDeliveries(0, 2).value()),
            (std::vector<uint64_t>{seqs[0], seqs[1]}));
  EXPECT_EQ(store_->CountUnpublishedDeliveries().value(), 4u);

  // Acknowledging does not publish...
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) {
                    return txn.AcknowledgeDeliveries("510100.psb", UINT64_MAX).status();
                  })
                  .ok());
  EXPECT_EQ(store_->CountUnpublishedDeliveries().value(), 4u);
  // ...and publishing does not acknowledge.
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) {
                    return txn.MarkDeliveriesPublished({seqs[1], seqs[3], 987654});
                  })
                  .ok());
  EXPECT_EQ(sequences(store_->ReadUnpublishedDeliveries(0, 100).value()),
            (std::vector<uint64_t>{seqs[0], seqs[2]}));
  EXPECT_EQ(store_->CountUnpublishedDeliveries().value(), 2u);
  EXPECT_EQ(store_->ReadPendingDeliveries("510100.pro", 0, 100).value().size(), 1u);

  // A rolled-back mark leaves the row pending; a committed one survives reopen.
  EXPECT_FALSE(store_
                   ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                     if (absl::Status s = txn.MarkDeliveriesPublished({seqs[0]}); !s.ok()) return s;
                     return absl::AbortedError("roll back");
                   })
                   .ok());
  Reopen();
  EXPECT_EQ(sequences(store_->ReadUnpublishedDeliveries(0, 100).value()),
            (std::vector<uint64_t>{seqs[0], seqs[2]}));
}

// A gateway without a bus drops the relay's outbox index (nothing reads it,
// and each delivery would cost a write to it); one with a bus builds it again
// over every delivery still unpublished. Without it the relay's reads are
// scans with the same answers.
TEST(StoreOutboxIndexTest, DroppedWithoutBusAndRebuiltWithOne) {
  TempDir dir;
  auto open = [&](SqliteStoreOptions::OutboxIndex outbox) {
    SqliteStoreOptions options = OptionsFor(dir.path());
    options.outbox_index = outbox;
    absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  };
  auto has_index = [&] {
    return RawQuery(dir.path(), "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name = 'deliveries_unpublished'") == std::vector<std::string>{"1"};
  };
  auto relay_uses_index = [&] {
    const std::vector<std::string> plan = RawQuery(
        dir.path(), "EXPLAIN QUERY PLAN SELECT seq FROM deliveries WHERE published = 0 AND seq > 0 ORDER BY seq",
        /*column=*/3);
    for (const std::string& step : plan) {
      if (step.find("deliveries_unpublished") != std::string::npos) return true;
    }
    return false;
  };
  auto add = [](Store& store, int n) {
    std::vector<uint64_t> seqs;
    EXPECT_TRUE(store
                    .WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                      for (int i = 0; i < n; ++i) {
                        absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery("510100.psb", "case-o"));
                        if (!seq.ok()) return seq.status();
                        seqs.push_back(*seq);
                      }
                      return absl::OkStatus();
                    })
                    .ok());
    return seqs;
  };
  auto sequences = [](const absl::StatusOr<std::vector<v1::Delivery>>& ds) {
    std::vector<uint64_t> out;
    EXPECT_TRUE(ds.ok()) << ds.status();
    if (ds.ok()) {
      for (const auto& d : *ds) out.push_back(d.sequence());
    }
    return out;
  };

  std::vector<uint64_t> seqs;
  {
    std::unique_ptr<Store> store = open(SqliteStoreOptions::OutboxIndex::kAsFound);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(has_index()) << "a new file starts with the outbox index";
    seqs = add(*store, 2);
  }
  {
    std::unique_ptr<Store> store = open(SqliteStoreOptions::OutboxIndex::kDrop);
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(has_index());
    EXPECT_FALSE(relay_uses_index());
    for (uint64_t seq : add(*store, 2)) seqs.push_back(seq);
    ASSERT_TRUE(store->WriteAndWait([&](StoreTransaction& txn) { return txn.MarkDeliveriesPublished({seqs[1]}); }).ok());
    EXPECT_EQ(sequences(store->ReadUnpublishedDeliveries(0, 100)), (std::vector<uint64_t>{seqs[0], seqs[2], seqs[3]}));
    EXPECT_EQ(store->CountUnpublishedDeliveries().value(), 3u);
  }
  {
    // A tool's open changes nothing.
    std::unique_ptr<Store> store = open(SqliteStoreOptions::OutboxIndex::kAsFound);
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(has_index());
  }
  std::unique_ptr<Store> store = open(SqliteStoreOptions::OutboxIndex::kKeep);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(has_index());
  EXPECT_TRUE(relay_uses_index());
  // Rows written while it was dropped are in it, and the one published then is not.
  EXPECT_EQ(sequences(store->ReadUnpublishedDeliveries(0, 100)), (std::vector<uint64_t>{seqs[0], seqs[2], seqs[3]}));
  EXPECT_EQ(sequences(store->ReadUnpublishedDeliveries(seqs[2], 100)), (std::vector<uint64_t>{seqs[3]}));
  EXPECT_EQ(store->CountUnpublishedDeliveries().value(), 3u);
  EXPECT_EQ(RawQuery(dir.path(), "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

TEST_F(StoreTest, FailingWorkRollsBackOnlyItsOwnWrites) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  const uint64_t commits_before = sqlite->CommitCount();

  WriterGate gate(*store_);
  DoneCounter counter;
  absl::Status status_a, status_b, status_c;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    store_->Write([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-a")); },
                  counter.Callback(&status_a));
  });
  threads.back().join();  // a, b, c queue in this order, each from its own thread
  threads.emplace_back([&] {
    store_->Write(
        [](StoreTransaction& txn) -> absl::Status {
          if (absl::Status s = txn.PutCase(SimpleCase("case-b")); !s.ok()) return s;
          if (absl::Status s = txn.AppendAuditEntry(MakeAuditEntry(0)); !s.ok()) return s;
          if (absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery("510100.psb", "case-b"));
              !seq.ok()) {
            return seq.status();
          }
          return absl::InvalidArgumentError("deliberate failure");
        },
        counter.Callback(&status_b));
  });
  threads.back().join();
  threads.emplace_back([&] {
    store_->Write(
        [](StoreTransaction& txn) -> absl::Status {
          if (absl::Status s = txn.PutCase(SimpleCase("case-c")); !s.ok()) return s;
          // b's audit entry 0 was rolled back, so 0 is the next index again.
          return txn.AppendAuditEntry(MakeAuditEntry(0));
        },
        counter.Callback(&status_c));
  });
  threads.back().join();
  gate.Release();
  ASSERT_TRUE(gate.WaitDone().ok());
  counter.WaitFor(3);

  EXPECT_TRUE(status_a.ok()) << status_a;
  EXPECT_EQ(status_b.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_b.message(), "deliberate failure");
  EXPECT_TRUE(status_c.ok()) << status_c;
  // The gate's group and one group for a, b and c.
  EXPECT_EQ(sqlite->CommitCount(), commits_before + 2);

  EXPECT_TRUE(store_->ReadCase("case-a").value().has_value());
  EXPECT_FALSE(store_->ReadCase("case-b").value().has_value());
  EXPECT_TRUE(store_->ReadCase("case-c").value().has_value());
  EXPECT_EQ(store_->ReadAuditSize().value_or(0), 1u);
  EXPECT_TRUE(store_->ReadPendingDeliveries("510100.psb", 0, 10).value().empty());
  // Cases party lists of the failed work vanished as well.
  CaseFilter filter;
  filter.agency = "510100.psb";
  EXPECT_EQ(List(filter), (std::vector<std::string>{"case-a", "case-c"}));
}

// Groups run without savepoints first; only a work that fails after writing
// sends its group round again, each work in a savepoint.
TEST_F(StoreTest, OnlyAWorkThatFailsAfterWritingRunsItsGroupAgain) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  std::atomic<int> runs_of_a{0};
  auto run_group = [&](bool failing_work_writes) {
    WriterGate gate(*store_);
    DoneCounter counter;
    absl::Status status_a, status_b;
    const std::string id = failing_work_writes ? "after-write" : "before-write";
    store_->Write(
        [&runs_of_a, id](StoreTransaction& txn) {
          ++runs_of_a;
          return txn.PutCase(SimpleCase(id + "-a"));
        },
        counter.Callback(&status_a));
    store_->Write(
        [failing_work_writes, id](StoreTransaction& txn) -> absl::Status {
          // Reading is not writing.
          if (absl::StatusOr<std::optional<v1::Case>> c = txn.GetCase(id + "-a"); !c.ok()) return c.status();
          if (failing_work_writes) {
            if (absl::Status s = txn.PutCase(SimpleCase(id + "-b")); !s.ok()) return s;
          }
          return absl::FailedPreconditionError("refused");
        },
        counter.Callback(&status_b));
    gate.Release();
    ASSERT_TRUE(gate.WaitDone().ok());
    counter.WaitFor(2);
    EXPECT_TRUE(status_a.ok()) << status_a;
    EXPECT_EQ(status_b.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(store_->ReadCase(id + "-a").value().has_value());
    EXPECT_FALSE(store_->ReadCase(id + "-b").value().has_value());
  };

  run_group(/*failing_work_writes=*/false);
  EXPECT_EQ(sqlite->RerunCount(), 0u);
  EXPECT_EQ(runs_of_a.load(), 1);

  run_group(/*failing_work_writes=*/true);
  EXPECT_EQ(sqlite->RerunCount(), 1u);
  EXPECT_EQ(runs_of_a.load(), 1 + 2);
}

TEST_F(StoreTest, ConcurrentWritesShareCommits) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  const uint64_t commits_before = sqlite->CommitCount();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  constexpr int kTotal = kThreads * kPerThread;

  // Hold the writer so all 1000 writes are queued before any commits; the
  // next groups are then exactly ceil(1000 / max_batch) = 4.
  WriterGate gate(*store_);
  DoneCounter counter;
  std::vector<absl::Status> statuses(kTotal);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        store_->Write(
            [n](StoreTransaction& txn) {
              return txn.AddDelivery(MakeDelivery("510100.psb", absl::StrCat("case-", n))).status();
            },
            counter.Callback(&statuses[n]));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  gate.Release();
  ASSERT_TRUE(gate.WaitDone().ok());
  counter.WaitFor(kTotal);

  for (const auto& status : statuses) ASSERT_TRUE(status.ok()) << status;
  const uint64_t commits = sqlite->CommitCount() - commits_before;
  EXPECT_LT(commits, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(commits, 1u + 4u);

  absl::StatusOr<std::vector<v1::Delivery>> pending =
      store_->ReadPendingDeliveries("510100.psb", 0, 2 * kTotal);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), static_cast<size_t>(kTotal));
  std::set<uint64_t> sequences;
  for (const auto& d : *pending) sequences.insert(d.sequence());
  EXPECT_EQ(sequences.size(), static_cast<size_t>(kTotal));
}

TEST_F(StoreTest, ConcurrentWaitersAllSucceed) {
  // Many blocking writers at once: each gets its own status back, and fewer
  // commits than writes are needed.
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  const uint64_t commits_before = sqlite->CommitCount();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat("case-", t, "-", i);
        absl::Status s =
            store_->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(SimpleCase(id)); });
        // The write is visible to a reader as soon as WriteAndWait returns.
        if (!s.ok() || !store_->ReadCase(id).value_or(std::nullopt).has_value()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(sqlite->CommitCount() - commits_before, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(StoreTest, DoneOnlyAfterDurable) {
  // Each done callback opens a second store on the same directory and must
  // find the write there: done means committed, not merely queued.
  constexpr int kWrites = 10;
  DoneCounter counter;
  std::vector<absl::Status> statuses(kWrites);
  std::vector<int> seen(kWrites, 0);
  for (int i = 0; i < kWrites; ++i) {
    const std::string id = absl::StrCat("case-", i);
    Store::Done record = counter.Callback(&statuses[i]);
    store_->Write([id](StoreTransaction& txn) { return txn.PutCase(SimpleCase(id)); },
                  [this, id, i, &seen, record](absl::Status status) {
                    std::unique_ptr<Store> other = OpenOrDie(dir_.path());
                    if (other != nullptr) {
                      seen[i] = other->ReadCase(id).value_or(std::nullopt).has_value() ? 1 : 0;
                    }
                    record(status);
                  });
  }
  counter.WaitFor(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i];
    EXPECT_EQ(seen[i], 1) << "case-" << i << " not durable at done";
  }
}

TEST_F(StoreTest, RecoveryAfterReopen) {
  StoredEnvelope envelope;
  envelope.envelope_id = "env-1";
  envelope.envelope_digest = "digest";
  envelope.sender_agency = "510100.epb";
  envelope.case_id = "case-1";
  envelope.signed_envelope = "se";
  envelope.signed_receipt = "sr";
  v1::TimelineEvent event;
  event.set_case_id("case-1");
  event.set_version(1);
  event.add_documents()->mutable_digest()->set_value("\xab\xcd");
  uint64_t first_seq = 0;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (auto s = txn.PutCase(SimpleCase("case-1")); !s.ok()) return s;
                    if (auto s = txn.AppendTimelineEvent(event); !s.ok()) return s;
                    if (auto s = txn.PutEnvelope(envelope); !s.ok()) return s;
                    if (auto s = txn.AppendAuditEntry(MakeAuditEntry(0)); !s.ok()) return s;
                    absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery("a", "case-1"));
                    if (!seq.ok()) return seq.status();
                    first_seq = *seq;
                    if (auto s = txn.AddDelivery(MakeDelivery("a", "case-1")); !s.ok()) {
                      return s.status();
                    }
                    return txn.AcknowledgeDeliveries("a", first_seq).status();
                  })
                  .ok());

  Reopen();

  EXPECT_TRUE(store_->ReadCase("case-1").value().has_value());
  EXPECT_EQ(store_->ReadTimeline("case-1").value().size(), 1u);
  EXPECT_TRUE(store_->CaseHasDocument("case-1", "abcd").value());
  ASSERT_TRUE(store_->ReadEnvelope("env-1").value().has_value());
  EXPECT_EQ(store_->ReadEnvelope("env-1").value()->signed_receipt, "sr");
  EXPECT_EQ(store_->ReadAuditSize().value(), 1u);
  EXPECT_EQ(store_->ReadAcknowledgedThrough("a").value(), first_seq);
  EXPECT_EQ(store_->ReadPendingDeliveries("a", 0, 10).value().size(), 1u);
  CaseFilter filter;
  filter.agency = "510100.pro";
  EXPECT_EQ(List(filter), std::vector<std::string>{"case-1"});

  // Work continues where it stopped: the next audit index, a later sequence.
  uint64_t next_seq = 0;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (auto s = txn.AppendAuditEntry(MakeAuditEntry(1)); !s.ok()) return s;
                    absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery("a", "case-1"));
                    if (!seq.ok()) return seq.status();
                    next_seq = *seq;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_GT(next_seq, first_seq + 1);
}

TEST_F(StoreTest, ASlowCallbackDoesNotHoldTheNextCommitAndCallbacksKeepCommitOrder) {
  // Callbacks answer callers; they run on their own thread, so the writer
  // commits the next group while one is slow, and they still run in order.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex order_mu;
  std::vector<int> order;
  DoneCounter counter;
  std::vector<absl::Status> statuses(2);
  Store::Done first = counter.Callback(&statuses[0]);
  store_->Write([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-0")); },
                [&, first](absl::Status status) {
                  entered.set_value();
                  released.wait();
                  {
                    std::lock_guard<std::mutex> lock(order_mu);
                    order.push_back(0);
                  }
                  first(status);
                });
  entered.get_future().wait();
  Store::Done second = counter.Callback(&statuses[1]);
  store_->Write([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-1")); },
                [&, second](absl::Status status) {
                  {
                    std::lock_guard<std::mutex> lock(order_mu);
                    order.push_back(1);
                  }
                  second(status);
                });
  // The second write becomes durable and visible while the first callback
  // is still blocked.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool committed = false;
  while (!committed && std::chrono::steady_clock::now() < deadline) {
    committed = store_->ReadCase("case-1").value_or(std::nullopt).has_value();
    if (!committed) std::this_thread::yield();
  }
  EXPECT_TRUE(committed) << "the writer waited for a callback";
  {
    std::lock_guard<std::mutex> lock(order_mu);
    EXPECT_TRUE(order.empty()) << "the second callback ran before the first finished";
  }
  release.set_value();
  counter.WaitFor(2);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
}

TEST_F(StoreTest, ShutdownFromACallbackStopsTheStore) {
  std::promise<absl::Status> from_callback;
  store_->Write([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-0")); },
                [&](absl::Status status) {
                  store_->Shutdown();
                  from_callback.set_value(status);
                });
  EXPECT_TRUE(from_callback.get_future().get().ok());
  EXPECT_EQ(store_->WriteAndWait([](StoreTransaction&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kUnavailable);
  store_->Shutdown();  // from this thread: joins both threads
  EXPECT_TRUE(store_->ReadCase("case-0").value_or(std::nullopt).has_value());
}

TEST_F(StoreTest, StepsRunAfterEveryWorkOfTheGroupInOrderAndAFailedWorkDropsItsSteps) {
  std::vector<std::string> log;  // writer thread only
  std::vector<absl::Status> statuses(3);
  DoneCounter counter;
  {
    WriterGate gate(*store_);
    for (int i = 0; i < 3; ++i) {
      store_->Write(
          [&log, i](StoreTransaction& txn) -> absl::Status {
            log.push_back(absl::StrCat("work ", i));
            if (absl::Status s = txn.BeforeCommit([&log, i](StoreTransaction& txn) {
                  log.push_back(absl::StrCat("step ", i));
                  return txn.PutCase(SimpleCase(absl::StrCat("case-", i)));
                });
                !s.ok()) {
              return s;
            }
            if (i == 1) return absl::InvalidArgumentError("work 1 refused");
            return absl::OkStatus();
          },
          counter.Callback(&statuses[i]));
    }
    gate.Release();
    ASSERT_TRUE(gate.WaitDone().ok());
  }
  counter.WaitFor(3);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument) << statuses[1];
  EXPECT_TRUE(statuses[2].ok()) << statuses[2];
  EXPECT_EQ(log, (std::vector<std::string>{"work 0", "work 1", "work 2", "step 0", "step 2"}));
  EXPECT_TRUE(store_->ReadCase("case-0").value_or(std::nullopt).has_value());
  EXPECT_FALSE(store_->ReadCase("case-1").value_or(std::nullopt).has_value());
  EXPECT_TRUE(store_->ReadCase("case-2").value_or(std::nullopt).has_value());
}

TEST_F(StoreTest, AFailingStepFailsTheWholeGroupAndKeepsNothing) {
  std::vector<absl::Status> statuses(2);
  DoneCounter counter;
  {
    WriterGate gate(*store_);
    store_->Write([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-a")); },
                  counter.Callback(&statuses[0]));
    store_->Write(
        [](StoreTransaction& txn) -> absl::Status {
          if (absl::Status s = txn.PutCase(SimpleCase("case-b")); !s.ok()) return s;
          return txn.BeforeCommit([](StoreTransaction&) { return absl::InternalError("signature failed"); });
        },
        counter.Callback(&statuses[1]));
    gate.Release();
    ASSERT_TRUE(gate.WaitDone().ok());
  }
  counter.WaitFor(2);
  for (const absl::Status& status : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_NE(status.message().find("signature failed"), std::string::npos) << status;
  }
  EXPECT_FALSE(store_->ReadCase("case-a").value_or(std::nullopt).has_value());
  EXPECT_FALSE(store_->ReadCase("case-b").value_or(std::nullopt).has_value());
  // The store goes on with the next group.
  EXPECT_TRUE(store_->WriteAndWait([](StoreTransaction& txn) { return txn.PutCase(SimpleCase("case-c")); }).ok());
}

TEST_F(StoreTest, SetEnvelopeReceiptReplacesTheReceiptOfAStoredEnvelopeOnly) {
  StoredEnvelope envelope{"env-1", "digest", "510100.epb", "case-1", "signed envelope", ""};
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    if (absl::Status s = txn.PutEnvelope(envelope); !s.ok()) return s;
                    return txn.SetEnvelopeReceipt("env-1", "signed receipt");
                  })
                  .ok());
  EXPECT_EQ(store_->ReadEnvelope("env-1").value()->signed_receipt, "signed receipt");
  absl::Status missing = store_->WriteAndWait(
      [](StoreTransaction& txn) { return txn.SetEnvelopeReceipt("env-2", "signed receipt"); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
}

// A receipt signed while its group runs: the envelope row is written once,
// with the receipt, and the group sees it meanwhile as a plain insert would.
TEST_F(StoreTest, AnEnvelopeAwaitingItsReceiptIsWrittenOnceWithItAndSeenByItsGroup) {
  // Delivery reads parse what they join back from the row.
  v1::SignedEnvelope signed_envelope;
  signed_envelope.set_envelope("envelope");
  const std::string envelope_bytes = signed_envelope.SerializeAsString();
  v1::SignedSubmissionReceipt late_receipt;
  late_receipt.set_receipt("late receipt");
  const std::string receipt_bytes = late_receipt.SerializeAsString();
  auto awaiting = [&](const char* id, const char* case_id) {
    return StoredEnvelope{id, "digest", "510100.epb", case_id, envelope_bytes, ""};
  };
  ASSERT_TRUE(store_
                  ->WriteAndWait([](StoreTransaction& txn) {
                    return txn.PutEnvelope({"env-0", "digest", "510100.epb", "case-0", "signed envelope", "receipt"});
                  })
                  .ok());
  // Counts row updates of `envelopes` from here on; the writer's statements
  // pick the trigger up with the schema change.
  EXPECT_TRUE(RawQuery(dir_.path(), "CREATE TABLE envelope_updates(envelope_id TEXT)").empty());
  EXPECT_TRUE(RawQuery(dir_.path(), "CREATE TRIGGER count_envelope_updates AFTER UPDATE ON envelopes "
                                    "BEGIN INSERT INTO envelope_updates VALUES(new.envelope_id); END")
                  .empty());

  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  WriterGate gate(*store_);
  DoneCounter counter;
  absl::Status original, retry, taken_in_store;
  std::optional<StoredEnvelope> seen_by_retry;
  absl::Status retry_put, retry_put_with_receipt;
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        absl::StatusOr<std::optional<StoredEnvelope>> prior = txn.GetEnvelope("env-1");
        if (!prior.ok()) return prior.status();
        if (prior->has_value()) return absl::InternalError("env-1 seen before it was put");
        if (absl::Status s = txn.PutEnvelope(awaiting("env-1", "case-1")); !s.ok()) return s;
        if (absl::Status s = txn.BeforeCommit([&](StoreTransaction& txn) { return txn.SetEnvelopeReceipt("env-1", receipt_bytes); });
            !s.ok()) {
          return s;
        }
        v1::Delivery d = MakeDelivery("510100.psb", "case-1");
        d.set_envelope_id("env-1");
        return txn.AddEnvelopeDelivery(d).status();
      },
      counter.Callback(&original));
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        absl::StatusOr<std::optional<StoredEnvelope>> prior = txn.GetEnvelope("env-1");
        if (!prior.ok()) return prior.status();
        seen_by_retry = *prior;
        retry_put = txn.PutEnvelope(awaiting("env-1", "case-1"));
        StoredEnvelope with_receipt = awaiting("env-1", "case-1");
        with_receipt.signed_receipt = receipt_bytes;
        retry_put_with_receipt = txn.PutEnvelope(with_receipt);
        v1::Delivery d = MakeDelivery("510100.pro", "case-1");
        d.set_envelope_id("env-1");
        return txn.AddEnvelopeDelivery(d).status();
      },
      counter.Callback(&retry));
  store_->Write(
      [&](StoreTransaction& txn) { return txn.PutEnvelope(awaiting("env-0", "case-0")); },
      counter.Callback(&taken_in_store));
  gate.Release();
  ASSERT_TRUE(gate.WaitDone().ok());
  counter.WaitFor(3);

  EXPECT_TRUE(original.ok()) << original;
  EXPECT_TRUE(retry.ok()) << retry;
  ASSERT_TRUE(seen_by_retry.has_value());
  EXPECT_EQ(seen_by_retry->case_id, "case-1");
  EXPECT_EQ(retry_put.code(), absl::StatusCode::kAlreadyExists) << retry_put;
  EXPECT_EQ(retry_put_with_receipt.code(), absl::StatusCode::kAlreadyExists) << retry_put_with_receipt;
  EXPECT_EQ(taken_in_store.code(), absl::StatusCode::kAlreadyExists) << taken_in_store;
  // Refusals that wrote nothing: the group committed in its first run.
  EXPECT_EQ(sqlite->RerunCount(), 0u);

  absl::StatusOr<std::optional<StoredEnvelope>> stored = store_->ReadEnvelope("env-1");
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_EQ((*stored)->signed_receipt, receipt_bytes);
  EXPECT_EQ(store_->ReadEnvelope("env-0").value()->signed_receipt, "receipt");
  for (const char* agency : {"510100.psb", "510100.pro"}) {
    absl::StatusOr<std::vector<v1::Delivery>> pending = store_->ReadPendingDeliveries(agency, 0, 10);
    ASSERT_TRUE(pending.ok()) << pending.status();
    ASSERT_EQ(pending->size(), 1u) << agency;
    EXPECT_EQ((*pending)[0].gateway_receipt().receipt(), "late receipt") << agency;
  }
  EXPECT_EQ(RawQuery(dir_.path(), "SELECT count(*) FROM envelope_updates"), std::vector<std::string>{"0"});
}

// A held row is a write: a work that fails holding one (or after setting a
// held row's receipt) runs its group again, and its row is not stored.
TEST_F(StoreTest, AWorkThatFailsHoldingAnEnvelopeRowRunsItsGroupAgainWithoutIt) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  auto awaiting = [](const char* id) { return StoredEnvelope{id, "digest", "510100.epb", "case-1", "envelope", ""}; };
  // One group each: a row held, and a work that fails after `failing`.
  auto run_group = [&](const char* held_id, std::function<absl::Status(StoreTransaction&)> failing) {
    WriterGate gate(*store_);
    DoneCounter counter;
    absl::Status kept, refused;
    store_->Write([&](StoreTransaction& txn) { return txn.PutEnvelope(awaiting(held_id)); }, counter.Callback(&kept));
    store_->Write(
        [&](StoreTransaction& txn) -> absl::Status {
          if (absl::Status s = failing(txn); !s.ok()) return s;
          return absl::FailedPreconditionError("refused after its write");
        },
        counter.Callback(&refused));
    gate.Release();
    ASSERT_TRUE(gate.WaitDone().ok());
    counter.WaitFor(2);
    EXPECT_TRUE(kept.ok()) << kept;
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  };

  run_group("env-1", [&](StoreTransaction& txn) { return txn.PutEnvelope(awaiting("env-2")); });
  EXPECT_EQ(sqlite->RerunCount(), 1u);
  EXPECT_TRUE(store_->ReadEnvelope("env-1").value().has_value());
  EXPECT_FALSE(store_->ReadEnvelope("env-2").value().has_value());

  run_group("env-3", [](StoreTransaction& txn) { return txn.SetEnvelopeReceipt("env-3", "receipt of a refused work"); });
  EXPECT_EQ(sqlite->RerunCount(), 2u);
  ASSERT_TRUE(store_->ReadEnvelope("env-3").value().has_value());
  EXPECT_EQ(store_->ReadEnvelope("env-3").value()->signed_receipt, "");
}

// Without the rerun the same writes commit with no update of the row at all.
TEST_F(StoreTest, AGroupWithoutRerunWritesAnAwaitedEnvelopeRowOnce) {
  EXPECT_TRUE(RawQuery(dir_.path(), "CREATE TABLE envelope_updates(envelope_id TEXT)").empty());
  EXPECT_TRUE(RawQuery(dir_.path(), "CREATE TRIGGER count_envelope_updates AFTER UPDATE ON envelopes "
                                    "BEGIN INSERT INTO envelope_updates VALUES(new.envelope_id); END")
                  .empty());
  absl::Status written = store_->WriteAndWait([](StoreTransaction& txn) -> absl::Status {
    if (absl::Status s = txn.PutEnvelope({"env-1", "digest", "510100.epb", "case-1", "signed envelope", ""}); !s.ok()) {
      return s;
    }
    return txn.BeforeCommit([](StoreTransaction& txn) { return txn.SetEnvelopeReceipt("env-1", "late receipt"); });
  });
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(store_->ReadEnvelope("env-1").value()->signed_receipt, "late receipt");
  EXPECT_EQ(RawQuery(dir_.path(), "SELECT count(*) FROM envelope_updates"), std::vector<std::string>{"0"});
}

// A group's works see each other's audit entries and deliveries at the
// growing ends of the store, which the transaction remembers between works.
TEST_F(StoreTest, WorksOfAGroupContinueEachOthersAuditLogAndDeliverySequence) {
  WriterGate gate(*store_);
  DoneCounter counter;
  absl::Status first, second;
  std::vector<uint64_t> sequences;
  uint64_t head_seen_by_second = 0;
  absl::Status stale_index;
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        if (absl::Status s = txn.AppendAuditEntry(MakeAuditEntry(0)); !s.ok()) return s;
        for (const char* agency : {"510100.psb", "510100.pro"}) {
          absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery(agency, "case-1"));
          if (!seq.ok()) return seq.status();
          sequences.push_back(*seq);
        }
        return absl::OkStatus();
      },
      counter.Callback(&first));
  store_->Write(
      [&](StoreTransaction& txn) -> absl::Status {
        absl::StatusOr<AuditHead> head = txn.GetAuditHead();
        if (!head.ok()) return head.status();
        head_seen_by_second = head->size;
        if (absl::Status s = txn.AppendAuditEntry(MakeAuditEntry(1)); !s.ok()) return s;
        stale_index = txn.AppendAuditEntry(MakeAuditEntry(1));
        absl::StatusOr<uint64_t> seq = txn.AddDelivery(MakeDelivery("510100.psb", "case-2"));
        if (!seq.ok()) return seq.status();
        sequences.push_back(*seq);
        return absl::OkStatus();
      },
      counter.Callback(&second));
  gate.Release();
  ASSERT_TRUE(gate.WaitDone().ok());
  counter.WaitFor(2);
  ASSERT_TRUE(first.ok()) << first;
  ASSERT_TRUE(second.ok()) << second;
  EXPECT_EQ(head_seen_by_second, 1u);
  EXPECT_EQ(stale_index.code(), absl::StatusCode::kFailedPrecondition) << stale_index;
  EXPECT_EQ(sequences, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(RawQuery(dir_.path(), "SELECT count(*) FROM audit"), std::vector<std::string>{"2"});
  // The next group starts from what the database holds.
  absl::StatusOr<uint64_t> next = AddDeliveryAndWait(*store_, "510100.pro", "case-3");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 4u);
}

TEST_F(StoreTest, ShutdownDrainsThenRefuses) {
  DoneCounter counter;
  constexpr int kWrites = 50;
  std::vector<absl::Status> statuses(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    store_->Write([i](StoreTransaction& txn) {
                    return txn.PutCase(SimpleCase(absl::StrCat("case-", i)));
                  },
                  counter.Callback(&statuses[i]));
  }
  store_->Shutdown();
  // Everything queued before Shutdown was committed before it returned.
  for (const auto& status : statuses) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(List(CaseFilter{}).size(), static_cast<size_t>(kWrites));

  bool called = false;
  absl::Status late;
  store_->Write([](StoreTransaction&) { return absl::OkStatus(); },
                [&](absl::Status status) {
                  called = true;
                  late = status;
                });
  EXPECT_TRUE(called);  // at once, on this thread
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->WriteAndWait([](StoreTransaction&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kUnavailable);
  store_->Shutdown();  // idempotent
}

TEST_F(StoreTest, ListCasesFilters) {
  const std::vector<v1::Case> cases = {
      MakeCase("c01", v1::RECEIVED, "510100.epb", "510100.psb", {"510100.pro"}, "510100",
               v1::CRIMINAL, 1000),
      MakeCase("c02", v1::TRANSFERRED, "510100.epb", "510100.psb", {}, "510104", v1::CRIMINAL,
               2000),
      MakeCase("c03", v1::DETENTION_TRANSFERRED, "510700.epb", "510700.psb", {}, "510700",
               v1::DETENTION, 3000),
      MakeCase("c04", v1::RECEIVED, "440100.epb", "440100.psb", {"440100.pro"}, "440100",
               v1::CRIMINAL, 4000),
      MakeCase("c05", v1::RECEIVED, "510100.epb", "510100.epb", {}, "510100", v1::CRIMINAL,
               5000),
  };
  // Inserted out of order: results are ordered by case id regardless.
  for (int i : {3, 0, 4, 1, 2}) ASSERT_TRUE(Put(cases[i]).ok());

  using IdList = std::vector<std::string>;
  EXPECT_EQ(List(CaseFilter{}), (IdList{"c01", "c02", "c03", "c04", "c05"}));

  CaseFilter f;
  f.state = v1::RECEIVED;
  EXPECT_EQ(List(f), (IdList{"c01", "c04", "c05"}));

  f = {};
  f.agency = "510100.pro";  // copied
  EXPECT_EQ(List(f), (IdList{"c01"}));
  f.agency = "510100.psb";  // addressee
  EXPECT_EQ(List(f), (IdList{"c01", "c02"}));
  f.agency = "510100.epb";  // originator (and, for c05, addressee too: listed once)
  EXPECT_EQ(List(f), (IdList{"c01", "c02", "c05"}));
  f.state = v1::RECEIVED;
  EXPECT_EQ(List(f), (IdList{"c01", "c05"}));

  f = {};
  f.region_prefix = "5101";
  EXPECT_EQ(List(f), (IdList{"c01", "c02", "c05"}));
  f.region_prefix = "51";
  EXPECT_EQ(List(f), (IdList{"c01", "c02", "c03", "c05"}));
  f.region_prefix = "510100";
  EXPECT_EQ(List(f), (IdList{"c01", "c05"}));
  f.region_prefix = "52";
  EXPECT_EQ(List(f), IdList{});

  f = {};
  f.track = v1::DETENTION;
  EXPECT_EQ(List(f), (IdList{"c03"}));

  f = {};
  f.updated_from_micros = 2000;
  f.updated_to_micros = 4000;  // half-open: [from, to)
  EXPECT_EQ(List(f), (IdList{"c02", "c03"}));
  f.updated_to_micros = 0;
  EXPECT_EQ(List(f), (IdList{"c02", "c03", "c04", "c05"}));

  // Paging.
  f = {};
  f.limit = 2;
  EXPECT_EQ(List(f), (IdList{"c01", "c02"}));
  f.after_case_id = "c02";
  EXPECT_EQ(List(f), (IdList{"c03", "c04"}));
  f.after_case_id = "c04";
  EXPECT_EQ(List(f), (IdList{"c05"}));
  f.after_case_id = "c05";
  EXPECT_EQ(List(f), IdList{});
  f = {};
  f.agency = "510100.epb";
  f.limit = 1;
  f.after_case_id = "c01";
  EXPECT_EQ(List(f), (IdList{"c02"}));

  // Parties are refreshed when a case is replaced.
  v1::Case moved = cases[0];
  moved.clear_copied();
  moved.add_copied("510000.pro");
  ASSERT_TRUE(Put(moved).ok());
  f = {};
  f.agency = "510100.pro";
  EXPECT_EQ(List(f), IdList{});
  f.agency = "510000.pro";
  EXPECT_EQ(List(f), (IdList{"c01"}));
}

TEST_F(StoreTest, QueryAuditFiltersAndVisibility) {
  ASSERT_TRUE(Put(SimpleCase("c1")).ok());  // parties: 510100.epb, .psb, .pro; region 510100
  struct Row {
    const char* actor;
    const char* action;
    const char* case_id;
    v1::AuditRecord::Outcome outcome;
    int64_t seconds;
  };
  const Row rows[] = {
      {"", "gateway.start", "", v1::AuditRecord::SYSTEM, 100},
      {"510100.epb", "Submit/transfer", "c1", v1::AuditRecord::ACCEPTED, 200},
      {"510100.court", "GetCase", "c1", v1::AuditRecord::REFUSED, 300},
      {"440100.epb", "Submit/transfer", "x9", v1::AuditRecord::ACCEPTED, 400},
      {"510100.psb", "Acknowledge", "", v1::AuditRecord::ACKNOWLEDGED, 500},
  };
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTransaction& txn) {
                    uint64_t i = 0;
                    for (const Row& row : rows) {
                      v1::AuditRecord r;
                      r.set_index(i);
                      r.set_actor_agency(row.actor);
                      r.set_action(row.action);
                      r.set_case_id(row.case_id);
                      r.set_outcome(row.outcome);
                      r.mutable_time()->set_seconds(row.seconds);
                      v1::AuditEntry e;
                      e.set_index(i++);
                      e.set_record(r.SerializeAsString());
                      e.set_entry_hash("h");
                      // Indexed from the bytes, and (every other row) from the record given.
                      absl::Status s = e.index() % 2 == 0 ? txn.AppendAuditEntry(e) : txn.AppendAuditEntry(e, r);
                      if (!s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  auto indexes = [&](const AuditFilter& f) {
    std::vector<uint64_t> out;
    auto entries = store_->QueryAudit(f);
    EXPECT_TRUE(entries.ok()) << entries.status();
    for (const auto& e : *entries) out.push_back(e.index());
    return out;
  };
  AuditFilter f;
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  f.case_id = "c1";
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{1, 2}));
  f = AuditFilter();
  f.outcome = v1::AuditRecord::REFUSED;
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{2}));
  f = AuditFilter();
  f.from_micros = 250 * 1000000LL;
  f.to_micros = 450 * 1000000LL;
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{2, 3}));
  // The PRO sees what concerns its case (1, 2), not the others' own actions.
  f = AuditFilter();
  f.visible_to_agency = "510100.pro";
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{1, 2}));
  f.visible_to_agency = "510100.psb";
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{1, 2, 4}));
  // A Sichuan auditor sees Sichuan agencies, Sichuan cases and the gateway's own events.
  f = AuditFilter();
  f.visible_region_prefix = "51";
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{0, 1, 2, 4}));
  f.from_index = 2;
  f.limit = 1;
  EXPECT_EQ(indexes(f), (std::vector<uint64_t>{2}));
}

TEST_F(StoreTest, TreeHeadsAreKeptBySize) {
  auto latest = store_->ReadLatestTreeHead();
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
  ASSERT_TRUE(store_->WriteAndWait([](StoreTransaction& txn) { return txn.PutTreeHead(5, 1, "sth5"); }).ok());
  ASSERT_TRUE(store_->WriteAndWait([](StoreTransaction& txn) { return txn.PutTreeHead(9, 2, "sth9"); }).ok());
  EXPECT_EQ(store_->WriteAndWait([](StoreTransaction& txn) { return txn.PutTreeHead(9, 3, "other"); }).code(),
            absl::StatusCode::kAlreadyExists);
  Reopen();
  EXPECT_EQ(**store_->ReadTreeHead(5), "sth5");
  EXPECT_FALSE(store_->ReadTreeHead(6)->has_value());
  EXPECT_EQ(**store_->ReadLatestTreeHead(), "sth9");
}

TEST_F(StoreTest, ReadersRunConcurrentlyWithWriter) {
  constexpr int kCases = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t) {  // more readers than pooled connections
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!store_->ListCases(CaseFilter{}).ok()) ++read_errors;
      }
    });
  }
  for (int i = 0; i < kCases; ++i) {
    ASSERT_TRUE(Put(SimpleCase(absl::StrCat("case-", 1000 + i))).ok());
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(read_errors.load(), 0);
  CaseFilter all;
  all.limit = 1000;
  EXPECT_EQ(List(all).size(), static_cast<size_t>(kCases));
}

// A case whose stored proto is about `bytes` long, so a few of them fill pages.
v1::Case BulkyCase(int n, size_t bytes) {
  v1::Case c = SimpleCase(absl::StrCat("bulky-", n));
  c.set_case_name(std::string(bytes, static_cast<char>('a' + n % 26)));
  return c;
}

std::uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Queues `count` bulky cases at once (so they share groups) and waits for all.
void WriteBulkyCases(Store& store, int first, int count, size_t bytes) {
  DoneCounter counter;
  std::vector<absl::Status> statuses(count);
  for (int i = 0; i < count; ++i) {
    store.Write([c = BulkyCase(first + i, bytes)](StoreTransaction& txn) { return txn.PutCase(c); },
                counter.Callback(&statuses[i]));
  }
  counter.WaitFor(count);
  for (const auto& status : statuses) ASSERT_TRUE(status.ok()) << status;
}

std::unique_ptr<SqliteStore> OpenWithCheckpointPages(const std::string& dir, uint32_t pages) {
  SqliteStoreOptions options = OptionsFor(dir);
  options.checkpoint_pages = pages;
  absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(options);
  if (!opened.ok()) {
    ADD_FAILURE() << "open " << dir << ": " << opened.status();
    return nullptr;
  }
  return *std::move(opened);
}

TEST(StoreCheckpointTest, TheLogIsCopiedBackBesideTheWriterWhileReadersRead) {
  TempDir dir;
  std::unique_ptr<SqliteStore> opened = OpenWithCheckpointPages(dir.path(), 64);
  ASSERT_NE(opened, nullptr);
  SqliteStore& store = *opened;
  const std::string db_file = dir.path() + "/caselink.db";

  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (!stop.load()) {
      if (!store.ListCases(CaseFilter{}).ok()) ++read_errors;
    }
  });
  // ~1,000 pages of log in groups of ~40 pages.
  constexpr int kCases = 500;
  constexpr int kPerGroup = 20;
  for (int first = 0; first < kCases; first += kPerGroup) WriteBulkyCases(store, first, kPerGroup, 8000);
  stop = true;
  reader.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_GE(store.BackgroundCheckpoints(), 1u);
  EXPECT_GE(store.WriterCheckpointTails(), 1u);
  EXPECT_GE(FileSize(db_file), std::uintmax_t{1} << 20) << "nothing was copied into the database";
  // The writer's time is accounted for: each group and each tail syncs a file,
  // which takes well over a microsecond. (The last tail and round may still be
  // running: the writer copies a tail after answering its group.)
  const SqliteStore::WriterActivity activity = store.Activity();
  EXPECT_EQ(activity.commits, store.CommitCount());
  EXPECT_GE(activity.tails, 1u);
  EXPECT_GE(activity.background_rounds, 1u);
  EXPECT_GT(activity.group_micros, activity.commits);
  EXPECT_GT(activity.tail_micros, activity.tails);

  for (int i = 0; i < kCases; i += 7) {
    absl::StatusOr<std::optional<v1::Case>> read = store.ReadCase(absl::StrCat("bulky-", i));
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(read->has_value()) << "bulky-" << i;
    EXPECT_TRUE(MessageDifferencer::Equals(**read, BulkyCase(i, 8000)));
  }
  opened.reset();
  std::unique_ptr<Store> reopened = OpenOrDie(dir.path());
  ASSERT_NE(reopened, nullptr);
  CaseFilter all;
  all.limit = 1000;
  absl::StatusOr<std::vector<v1::Case>> cases = reopened->ListCases(all);
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_EQ(cases->size(), static_cast<size_t>(kCases));
}

TEST(StoreCheckpointTest, GroupsOverTheSlowMarkAreCountedApart) {
  TempDir dir;
  std::unique_ptr<SqliteStore> opened = OpenWithCheckpointPages(dir.path(), 64);
  ASSERT_NE(opened, nullptr);
  SqliteStore& store = *opened;
  ASSERT_TRUE(store.WriteAndWait([](StoreTransaction&) { return absl::OkStatus(); }).ok());
  const SqliteStore::WriterActivity before = store.Activity();
  // A quick group, then one that takes twice the mark.
  ASSERT_TRUE(store.WriteAndWait([](StoreTransaction&) { return absl::OkStatus(); }).ok());
  const auto slow = std::chrono::microseconds(2 * SqliteStore::WriterActivity::kSlowMicros);
  ASSERT_TRUE(store
                  .WriteAndWait([slow](StoreTransaction&) {
                    std::this_thread::sleep_for(slow);
                    return absl::OkStatus();
                  })
                  .ok());
  const SqliteStore::WriterActivity after = store.Activity();
  EXPECT_EQ(after.commits - before.commits, 2u);
  EXPECT_EQ(after.slow_groups - before.slow_groups, 1u);
  EXPECT_GE(after.slow_group_micros - before.slow_group_micros, static_cast<uint64_t>(slow.count()));
  EXPECT_LE(after.slow_group_micros - before.slow_group_micros, after.group_micros - before.group_micros);
}

// The log starts again from its beginning only when a transaction begins with
// all of it copied; the writer's tail makes that happen although the writer
// never pauses.
TEST(StoreCheckpointTest, TheLogStartsAgainInsteadOfGrowing) {
  TempDir dir;
  std::unique_ptr<SqliteStore> opened = OpenWithCheckpointPages(dir.path(), 64);
  ASSERT_NE(opened, nullptr);
  // ~4,000 pages (~16 MB) of log in groups of ~40 pages.
  for (int first = 0; first < 2000; first += 20) WriteBulkyCases(*opened, first, 20, 8000);
  EXPECT_GE(FileSize(dir.path() + "/caselink.db"), std::uintmax_t{12} << 20);
  EXPECT_LT(FileSize(dir.path() + "/caselink.db-wal"), std::uintmax_t{4} << 20);
}

TEST(StoreCheckpointTest, WithoutTheThreadTheWriterCheckpointsAsSqliteDoes) {
  TempDir dir;
  std::unique_ptr<SqliteStore> opened = OpenWithCheckpointPages(dir.path(), 0);
  ASSERT_NE(opened, nullptr);
  const std::string db_file = dir.path() + "/caselink.db";
  const std::uintmax_t db_before = FileSize(db_file);
  // ~1,250 pages: past SQLite's automatic checkpoint at 1,000, which runs in
  // the commit that crosses it, so the file has grown once the writes are done.
  WriteBulkyCases(*opened, 0, 600, 8000);
  EXPECT_EQ(opened->BackgroundCheckpoints(), 0u);
  EXPECT_EQ(opened->WriterCheckpointTails(), 0u);
  EXPECT_GE(FileSize(db_file), db_before + 512 * 4096);
}

// This thread's nice value (on Linux each thread has its own).
int ThreadNice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  EXPECT_EQ(errno, 0);
  return nice;
}

// The nice value a new thread of this process reaches when it asks for
// `asked` (below its own): `asked` when allowed, else the floor RLIMIT_NICE
// sets, else its own.
int NiceReachableFor(int asked) {
  int reached = 0;
  std::thread probe([&] {
    const id_t tid = static_cast<id_t>(gettid());
    const int own = ThreadNice();
    if (setpriority(PRIO_PROCESS, tid, asked) == 0) {
      reached = asked;
      return;
    }
    rlimit limit{};
    ASSERT_EQ(getrlimit(RLIMIT_NICE, &limit), 0);
    const int floor = limit.rlim_cur == RLIM_INFINITY ? -20 : 20 - static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 40));
    reached = floor < own ? std::max(floor, asked) : own;
  });
  probe.join();
  return reached;
}

TEST(StoreWriterTest, TheWriterAloneRunsAtTheNiceValueItAsksForWhenThatIsAllowed) {
  const int own = ThreadNice();
  for (const int asked : {own - 3, own + 5}) {
    TempDir dir;
    SqliteStoreOptions options = OptionsFor(dir.path());
    options.writer_nice = asked;
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    // The writer has started once it has run a work.
    ASSERT_TRUE((*store)->WriteAndWait([](StoreTransaction&) { return absl::OkStatus(); }).ok());
    const int expected = asked < own ? NiceReachableFor(asked) : own;
    EXPECT_EQ((*store)->WriterNice(), expected) << "asked for " << asked << ", started at " << own;
    EXPECT_EQ(ThreadNice(), own) << "the caller's thread changed too";
  }
}

TEST(StoreOpenTest, RejectsEmptyDirAndCreatesMissingDir) {
  EXPECT_EQ(OpenSqliteStore(SqliteStoreOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  TempDir dir;
  const std::string nested = dir.path() + "/a/b";
  std::unique_ptr<Store> store = OpenOrDie(nested);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(nested + "/caselink.db"));
}

// --- The file itself, inspected with SQLite directly. ---

// Runs `sql` on the store's file and returns the first column of each row.
std::vector<std::string> RawQuery(const std::string& dir, const char* sql, int column) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  const std::string path = dir + "/caselink.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      out.push_back(text != nullptr ? text : "");
    }
    if (rc != SQLITE_DONE) ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

TEST(StoreSchemaTest, VersionedWalSchema) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"),
            std::vector<std::string>{"9"});
  EXPECT_EQ(RawQuery(dir.path(),
                     "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                     "'sqlite_%' ORDER BY name"),
            (std::vector<std::string>{"audit", "audit_index", "case_deadlines", "case_events", "case_parties", "cases", "deliveries",
                                      "delivery_sequence_floor", "envelopes", "merkle_tree",
                                      "schema_version", "timeline", "tree_heads"}));
  EXPECT_EQ(RawQuery(dir.path(),
                     "SELECT name FROM sqlite_master WHERE type = 'index' AND name = "
                     "'deliveries_by_agency'")
                .size(),
            1u);
  store.reset();
  // Reopening an existing file keeps the one version row.
  store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT count(*) FROM schema_version"),
            std::vector<std::string>{"1"});
}

TEST(StoreSchemaTest, RefusesUnknownSchemaVersion) {
  TempDir dir;
  ASSERT_NE(OpenOrDie(dir.path()), nullptr);
  RawQuery(dir.path(), "UPDATE schema_version SET version = 10");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

// A file written before the Merkle table existed (version 1) is upgraded in
// place on open, keeping its data.
TEST(StoreSchemaTest, UpgradesVersion1FileInPlace) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store
                    ->WriteAndWait([](StoreTransaction& txn) {
                      return txn.PutCase(SimpleCase("case-v1"));
                    })
                    .ok());
  }
  RawQuery(dir.path(), "DROP TABLE merkle_tree");
  RawQuery(dir.path(), "UPDATE schema_version SET version = 1");
  ASSERT_TRUE(RawQuery(dir.path(), "SELECT name FROM sqlite_master WHERE name LIKE 'merkle%'").empty());

  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"),
            std::vector<std::string>{"9"});
  EXPECT_EQ(RawQuery(dir.path(), "SELECT name FROM sqlite_master WHERE name LIKE 'merkle%'"),
            std::vector<std::string>{"merkle_tree"});
  EXPECT_TRUE(store->ReadCase("case-v1").value().has_value());
  ASSERT_TRUE(store
                  ->WriteAndWait([](StoreTransaction& txn) {
                    return txn.PutMerkleNode(0, 0, std::string(32, 'h'));
                  })
                  .ok());
  EXPECT_EQ(store->ReadMerkleNode(0, 0).value(), std::string(32, 'h'));
}

// A version 4 file (before the relay's mark) gains the published column on
// open; its deliveries start unpublished, so the relay sends them.
TEST(StoreSchemaTest, UpgradesVersion4FileInPlace) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store
                    ->WriteAndWait([](StoreTransaction& txn) {
                      return txn.AddDelivery(MakeDelivery("510100.psb", "case-v4")).status();
                    })
                    .ok());
  }
  RawQuery(dir.path(), "DROP INDEX deliveries_unpublished");
  RawQuery(dir.path(), "ALTER TABLE deliveries DROP COLUMN published");
  RawQuery(dir.path(), "ALTER TABLE deliveries DROP COLUMN envelope_ref");
  RawQuery(dir.path(), "UPDATE schema_version SET version = 4");

  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"9"});
  absl::StatusOr<std::vector<v1::Delivery>> unpublished = store->ReadUnpublishedDeliveries(0, 10);
  ASSERT_TRUE(unpublished.ok()) << unpublished.status();
  ASSERT_EQ(unpublished->size(), 1u);
  EXPECT_EQ((*unpublished)[0].case_id(), "case-v4");
}

// A version 5 file keeps its deliveries with their own envelope copies; after
// the upgrade they read as before and new ones may refer to envelopes.
TEST(StoreSchemaTest, UpgradesVersion5FileInPlace) {
  TempDir dir;
  v1::Delivery old = MakeDelivery("510100.psb", "case-v5");
  old.mutable_envelope()->set_envelope("copied envelope");
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->WriteAndWait([&](StoreTransaction& txn) { return txn.AddDelivery(old).status(); }).ok());
  }
  RawQuery(dir.path(), "ALTER TABLE deliveries DROP COLUMN envelope_ref");
  RawQuery(dir.path(), "UPDATE schema_version SET version = 5");

  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"9"});
  absl::StatusOr<std::vector<v1::Delivery>> pending = store->ReadPendingDeliveries("510100.psb", 0, 10);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].envelope().envelope(), "copied envelope");
}

TEST(StoreSchemaTest, UpgradesVersion6FileInPlace) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    for (const char* id : {"case-a", "case-b"}) {
      ASSERT_TRUE(store->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(SimpleCase(id)); }).ok());
    }
  }
  // Back to version 6's layout: rows keyed by case, a second index by agency.
  for (const char* sql : {"CREATE TABLE v6_parties (case_id TEXT NOT NULL, agency TEXT NOT NULL, "
                          "PRIMARY KEY (case_id, agency)) WITHOUT ROWID",
                          "INSERT INTO v6_parties SELECT case_id, agency FROM case_parties",
                          "DROP TABLE case_parties", "ALTER TABLE v6_parties RENAME TO case_parties",
                          "CREATE INDEX case_parties_by_agency ON case_parties(agency, case_id)",
                          "UPDATE schema_version SET version = 6"}) {
    RawQuery(dir.path(), sql);
  }
  ASSERT_EQ(RawQuery(dir.path(), "SELECT name FROM pragma_table_info('case_parties') WHERE pk = 1"),
            std::vector<std::string>{"case_id"});

  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"9"});
  EXPECT_EQ(RawQuery(dir.path(), "SELECT name FROM pragma_table_info('case_parties') WHERE pk = 1"),
            std::vector<std::string>{"agency"});
  EXPECT_TRUE(RawQuery(dir.path(), "SELECT name FROM sqlite_master WHERE name = 'case_parties_by_agency'").empty());
  EXPECT_EQ(RawQuery(dir.path(), "SELECT count(*) FROM case_parties"), std::vector<std::string>{"6"});
  CaseFilter copied;
  copied.agency = "510100.pro";
  absl::StatusOr<std::vector<v1::Case>> listed = store->ListCases(copied);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{"case-a", "case-b"}));
}

// Every node of a tree, written in the order appends create them (each leaf,
// then the subtrees it completes), takes the next key of the table: no two
// nodes share one, and a commit's nodes sit together at the end.
TEST(StoreSchemaTest, MerkleNodesAreKeyedInAppendOrder) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  constexpr uint64_t kLeaves = 64;
  std::vector<std::pair<uint32_t, uint64_t>> created;
  for (uint64_t leaf = 0; leaf < kLeaves; ++leaf) {
    created.emplace_back(0, leaf);
    for (uint32_t level = 1; (leaf + 1) % (uint64_t{1} << level) == 0; ++level) {
      created.emplace_back(level, (leaf + 1) / (uint64_t{1} << level) - 1);
    }
  }
  ASSERT_EQ(created.size(), 2 * kLeaves - 1);
  std::vector<std::string> names;
  for (const auto& [level, index] : created) names.push_back(absl::StrCat(level, "/", index));
  ASSERT_TRUE(store
                  ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                    for (size_t i = 0; i < created.size(); ++i) {
                      if (auto s = txn.PutMerkleNode(created[i].first, created[i].second, names[i]); !s.ok()) {
                        return s;
                      }
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(RawQuery(dir.path(), "SELECT CAST(hash AS TEXT) FROM merkle_tree ORDER BY pos"), names);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT max(pos) - min(pos) FROM merkle_tree"),
            std::vector<std::string>{absl::StrCat(2 * kLeaves - 2)});
  for (size_t i = 0; i < created.size(); ++i) {
    EXPECT_EQ(store->ReadMerkleNode(created[i].first, created[i].second).value(), names[i]);
  }
}

// A version 7 file at `dir` whose Merkle table, keyed (level, idx), holds the
// SQL row values `rows`.
void WriteVersion7MerkleNodes(const std::string& dir, const std::string& rows) {
  ASSERT_NE(OpenOrDie(dir), nullptr);
  RawQuery(dir, "DROP TABLE merkle_tree");
  RawQuery(dir, "CREATE TABLE merkle_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
                "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID");
  RawQuery(dir, ("INSERT INTO merkle_nodes VALUES " + rows).c_str());
  RawQuery(dir, "UPDATE schema_version SET version = 7");
}

// Version 7 files keep their Merkle nodes keyed (level, idx); on open they
// move to their positions and read back the same.
TEST(StoreSchemaTest, UpgradesVersion7FileInPlace) {
  TempDir dir;
  WriteVersion7MerkleNodes(dir.path(),
                           "(0, 0, x'00'), (0, 1, x'01'), (1, 0, x'10'), (0, 2, x'02'), (0, 3, x'03'), "
                           "(1, 1, x'11'), (2, 0, x'20'), (0, 4, x'04')");
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"9"});
  EXPECT_EQ(RawQuery(dir.path(), "SELECT name FROM sqlite_master WHERE name LIKE 'merkle%'"),
            std::vector<std::string>{"merkle_tree"});
  // Post-order: the nodes in the order they were created.
  EXPECT_EQ(RawQuery(dir.path(), "SELECT hex(hash) FROM merkle_tree ORDER BY pos"),
            (std::vector<std::string>{"00", "01", "10", "02", "03", "11", "20", "04"}));
  EXPECT_EQ(store->ReadMerkleNode(1, 1).value(), std::string("\x11", 1));
  EXPECT_EQ(store->ReadMerkleNode(2, 0).value(), std::string("\x20", 1));
  EXPECT_EQ(store->ReadMerkleNode(0, 4).value(), std::string("\x04", 1));
  EXPECT_EQ(store->ReadMerkleNode(1, 2).status().code(), absl::StatusCode::kNotFound);
}

// A version 7 node no store can hold (beyond 2^62 leaves, or a damaged
// number) is damage: the upgrade stops, and the file stays as it was.
TEST(StoreSchemaTest, Version7NodeOutsideAnyTreeIsDataLoss) {
  // 4294967297 would read as level 1 if cut to 32 bits.
  for (const std::string bad : {"63, 0", "4294967297, 0", "0, -1"}) {
    TempDir dir;
    WriteVersion7MerkleNodes(dir.path(), "(0, 0, x'00'), (" + bad + ", x'ff')");
    absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir.path()));
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << bad << ": " << store.status();
    EXPECT_THAT(std::string(store.status().message()), ::testing::HasSubstr("level " + bad.substr(0, bad.find(',')) + ", index"));
    EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"7"});
    EXPECT_EQ(RawQuery(dir.path(), "SELECT count(*) FROM merkle_nodes"), std::vector<std::string>{"2"});
  }
}

// Deliveries are numbered without AUTOINCREMENT (version 9): no
// sqlite_sequence row is written, and numbering goes on across reopens.
TEST(StoreSchemaTest, DeliverySequencesWithoutAutoincrement) {
  TempDir dir;
  auto add = [](Store& store) {
    absl::StatusOr<uint64_t> seq = AddDeliveryAndWait(store, "510100.psb", "case-s");
    EXPECT_TRUE(seq.ok()) << seq.status();
    return seq.value_or(0);
  };
  {
    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(add(*store), 1u);
    EXPECT_EQ(add(*store), 2u);
  }
  EXPECT_THAT(RawQuery(dir.path(), "SELECT sql FROM sqlite_master WHERE name = 'deliveries'").at(0),
              ::testing::Not(::testing::HasSubstr("AUTOINCREMENT")));
  EXPECT_EQ(RawQuery(dir.path(), "SELECT count(*) FROM sqlite_sequence WHERE name = 'deliveries'"),
            std::vector<std::string>{"0"});
  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(add(*store), 3u);
}

// Turns a store written at version 9 into the version 8 layout: deliveries
// with AUTOINCREMENT, whose sqlite_sequence says `sequence`, and the table of
// case documents.
void WriteVersion8Deliveries(const std::string& dir, int sequence, bool outbox_index) {
  for (const char* sql : {
           "CREATE TABLE deliveries_v8 (seq INTEGER PRIMARY KEY AUTOINCREMENT, agency TEXT NOT NULL, "
           "acked INTEGER NOT NULL DEFAULT 0, proto BLOB NOT NULL, published INTEGER NOT NULL DEFAULT 0, "
           "envelope_ref TEXT)",
           "INSERT INTO deliveries_v8 SELECT seq, agency, acked, proto, published, envelope_ref FROM deliveries",
           "DROP TABLE deliveries",
           "ALTER TABLE deliveries_v8 RENAME TO deliveries",
           "CREATE INDEX deliveries_by_agency ON deliveries(agency, acked, seq)",
           "DROP TABLE delivery_sequence_floor",
           "CREATE TABLE case_documents (case_id TEXT NOT NULL, digest_hex TEXT NOT NULL, "
           "PRIMARY KEY (case_id, digest_hex)) WITHOUT ROWID",
           "INSERT INTO case_documents VALUES('case-v8', 'abcd')",
           "UPDATE schema_version SET version = 8",
       }) {
    RawQuery(dir, sql);
  }
  if (outbox_index) RawQuery(dir, "CREATE INDEX deliveries_unpublished ON deliveries(seq) WHERE published = 0");
  RawQuery(dir, absl::StrCat("UPDATE sqlite_sequence SET seq = ", sequence, " WHERE name = 'deliveries'").c_str());
}

// A version 8 file keeps every delivery as it was, and its next sequence is
// past anything AUTOINCREMENT handed out, also when the newest rows had been
// deleted by hand. Its case documents table goes: the timeline lists them.
TEST(StoreSchemaTest, UpgradesVersion8FileInPlace) {
  for (const auto& [sequence, outbox_index, next] : {std::tuple{3, true, 4}, std::tuple{10, false, 11}}) {
    SCOPED_TRACE(absl::StrCat("sqlite_sequence ", sequence));
    TempDir dir;
    {
      std::unique_ptr<Store> store = OpenOrDie(dir.path());
      ASSERT_NE(store, nullptr);
      ASSERT_TRUE(store
                      ->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
                        for (const char* agency : {"510100.psb", "510100.pro", "510100.psb"}) {
                          if (auto seq = txn.AddDelivery(MakeDelivery(agency, "case-v8")); !seq.ok()) return seq.status();
                        }
                        return absl::OkStatus();
                      })
                      .ok());
      ASSERT_TRUE(store->WriteAndWait([](StoreTransaction& txn) { return txn.MarkDeliveriesPublished({2}); }).ok());
      ASSERT_TRUE(store
                      ->WriteAndWait([](StoreTransaction& txn) {
                        return txn.AcknowledgeDeliveries("510100.psb", 1).status();
                      })
                      .ok());
    }
    const char* kRows = "SELECT group_concat(seq || ':' || agency || ':' || acked || ':' || published || ':' || "
                        "hex(proto), ' ') FROM (SELECT * FROM deliveries ORDER BY seq)";
    const std::vector<std::string> rows = RawQuery(dir.path(), kRows);
    WriteVersion8Deliveries(dir.path(), sequence, outbox_index);

    std::unique_ptr<Store> store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(RawQuery(dir.path(), "SELECT version FROM schema_version"), std::vector<std::string>{"9"});
    EXPECT_THAT(RawQuery(dir.path(), "SELECT sql FROM sqlite_master WHERE name = 'deliveries'").at(0),
                ::testing::Not(::testing::HasSubstr("AUTOINCREMENT")));
    EXPECT_EQ(RawQuery(dir.path(), kRows), rows);
    EXPECT_EQ(RawQuery(dir.path(), "SELECT count(*) FROM sqlite_master WHERE name = 'case_documents'"),
              std::vector<std::string>{"0"});
    EXPECT_EQ(RawQuery(dir.path(), "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                                   "'deliveries' ORDER BY name"),
              outbox_index ? (std::vector<std::string>{"deliveries_by_agency", "deliveries_unpublished"})
                           : (std::vector<std::string>{"deliveries_by_agency"}));
    EXPECT_EQ(store->ReadPendingDeliveries("510100.psb", 0, 10).value().size(), 1u);
    EXPECT_EQ(store->CountUnpublishedDeliveries().value(), 2u);
    absl::StatusOr<uint64_t> seq = AddDeliveryAndWait(*store, "510100.court", "case-v8");
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, static_cast<uint64_t>(next));
    EXPECT_EQ(RawQuery(dir.path(), "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  }
}

TEST(StoreSchemaTest, NotADatabaseIsInternal) {
  TempDir dir;
  {
    std::ofstream garbage(dir.path() + "/caselink.db", std::ios::binary);
    garbage << std::string(8192, 'x');
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal) << store.status();
}

// --- Crash recovery: a child process is killed with SIGKILL while writing. ---

bool ReadFull(int fd, void* buffer, size_t size) {
  auto* p = static_cast<char*>(buffer);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

absl::Status CrashWork(StoreTransaction& txn, uint32_t i) {
  if (absl::Status s = txn.PutCase(SimpleCase(absl::StrCat("case-", i))); !s.ok()) return s;
  v1::TimelineEvent event;
  event.set_case_id(absl::StrCat("case-", i));
  event.set_version(1);
  return txn.AppendTimelineEvent(event);
}

// Runs in the forked child: never returns. Writes each acknowledged item
// number to `fd` after its done callback reported it durable.
[[noreturn]] void CrashChild(const std::string& dir, int fd, bool concurrent) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir));
  if (!store.ok()) _exit(2);
  constexpr uint32_t kEndless = 1u << 30;  // the parent kills us long before
  if (!concurrent) {
    for (uint32_t i = 0; i < kEndless; ++i) {
      absl::Status s = (*store)->WriteAndWait([i](StoreTransaction& txn) { return CrashWork(txn, i); });
      if (!s.ok()) _exit(3);
      if (write(fd, &i, sizeof i) != sizeof i) _exit(4);
    }
  } else {
    // Up to 64 writes in flight, so groups hold many items when killed.
    std::counting_semaphore<64> in_flight(64);
    for (uint32_t i = 0; i < kEndless; ++i) {
      in_flight.acquire();
      (*store)->Write([i](StoreTransaction& txn) { return CrashWork(txn, i); },
                      [i, fd, &in_flight](absl::Status s) {
                        if (!s.ok()) _exit(3);
                        if (write(fd, &i, sizeof i) != sizeof i) _exit(4);
                        in_flight.release();
                      });
    }
  }
  _exit(0);
}

void RunCrashTest(bool concurrent) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    CrashChild(dir.path(), fds[1], concurrent);
  }
  close(fds[1]);

  // Let a few hundred items be acknowledged, then kill mid-stream.
  std::set<uint32_t> acked;
  uint32_t item = 0;
  while (acked.size() < 300 && ReadFull(fds[0], &item, sizeof item)) acked.insert(item);
  ASSERT_EQ(acked.size(), 300u) << "child stopped early";
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
  // Acknowledgements already in the pipe were made before the kill.
  while (ReadFull(fds[0], &item, sizeof item)) acked.insert(item);
  close(fds[0]);

  std::unique_ptr<Store> store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  for (uint32_t i : acked) {
    const std::string id = absl::StrCat("case-", i);
    ASSERT_TRUE(store->ReadCase(id).value_or(std::nullopt).has_value()) << id << " lost";
    ASSERT_EQ(store->ReadTimeline(id).value().size(), 1u) << id;
  }
  // The recovered store accepts writes.
  EXPECT_TRUE(store->WriteAndWait([](StoreTransaction& txn) {
                     return txn.PutCase(SimpleCase("after-crash"));
                   })
                  .ok());
}

TEST(StoreCrashTest, AcknowledgedWritesSurviveSigkill) { RunCrashTest(/*concurrent=*/false); }

TEST(StoreCrashTest, AcknowledgedGroupWritesSurviveSigkill) { RunCrashTest(/*concurrent=*/true); }

// SQLite's memory statistics take a global mutex on each of its allocations,
// about 80 per handoff on the writer; the store turns them off before SQLite
// starts. Checked in a fresh process (the death-test child), where nothing
// else has started SQLite first.
TEST(StoreProcessTest, SqliteKeepsNoMemoryStatistics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        TempDir dir;  // removed below: _Exit runs no destructors
        int code = 2;
        {
          std::unique_ptr<Store> store = OpenOrDie(dir.path());
          if (store != nullptr) {
            const v1::Case c = SimpleCase("case-1");
            absl::Status put = store->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(c); });
            code = put.ok() && sqlite3_memory_used() == 0 ? 0 : 1;
          }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir.path(), ec);
        std::_Exit(code);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace caselink
