// Cost of the audit Merkle log on the SQLite store: append rate (per work and
// with group commit), inclusion proof generation and verification, and bytes
// on disk per leaf. The 1M-leaf log is always built; set CASELINK_BENCH_10M=1
// to also build and measure a 10M-leaf one (minutes, ~1 GB of disk).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/store/store.h"
#include "security/merkle/merkle_log.h"
#include "security/merkle/node_cache.h"
#include "security/merkle/proofs.h"
#include "security/merkle/tree_hasher.h"

namespace caselink {
namespace {

using merkle::HashAlgorithm;
using merkle::TreeHasher;

// The writer-side node storage: the work's transaction.
class TransactionNodes : public merkle::MerkleNodeWriter {
 public:
  explicit TransactionNodes(StoreTransaction& txn) : txn_(txn) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    return txn_.GetMerkleNode(level, index);
  }
  absl::Status PutNode(uint32_t level, uint64_t index, absl::string_view hash) override {
    return txn_.PutMerkleNode(level, index, std::string_view(hash.data(), hash.size()));
  }

 private:
  StoreTransaction& txn_;
};

// The reader-side node storage: committed nodes through the read pool.
class CommittedNodes : public merkle::MerkleNodeReader {
 public:
  explicit CommittedNodes(Store& store) : store_(store) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    return store_.ReadMerkleNode(level, index);
  }

 private:
  Store& store_;
};

void Die(const absl::Status& status, const char* what) {
  std::fprintf(stderr, "merkle_bench: %s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

const TreeHasher& Hasher() {
  static const TreeHasher* const hasher = [] {
    absl::StatusOr<std::unique_ptr<TreeHasher>> h = TreeHasher::Create(HashAlgorithm::kSha256);
    if (!h.ok()) Die(h.status(), "hasher");
    return h->release();
  }();
  return *hasher;
}

// An audit record of a realistic size (~300 bytes), distinct per index.
std::string Record(uint64_t index) { return absl::StrCat(std::string(280, 'r'), "#", index); }

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "caselink-merkle-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) Die(absl::InternalError("mkdtemp failed"), "temp dir");
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

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  SqliteStoreOptions options;
  options.data_dir = dir;
  options.durable = true;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  if (!store.ok()) Die(store.status(), "open store");
  return *std::move(store);
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

// --- Appends. ---

// The hashing of an append alone, on nodes in memory, from a log of ~1M
// leaves: with the root of every size (AppendLeaf) and without (WriteLeaves,
// what the audit log does per record), beside one raw EVP_Digest of a node's
// 65 bytes, the floor for one hash.
void BM_RawNodeDigest(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  const std::string node(65, 'n');
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  for (auto _ : state) {
    if (EVP_Digest(node.data(), node.size(), out, &size, md, nullptr) != 1) Die(absl::InternalError("EVP_Digest"), "digest");
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
}
BENCHMARK(BM_RawNodeDigest);

void BM_HashChildren(benchmark::State& state) {
  const std::string left(32, 'l'), right(32, 'r');
  for (auto _ : state) benchmark::DoNotOptimize(Hasher().HashChildren(left, right));
}
BENCHMARK(BM_HashChildren);

void AppendInMemory(benchmark::State& state, bool with_root) {
  merkle::InMemoryMerkleNodes nodes;
  const std::string leaf = Hasher().HashLeaf("leaf");
  constexpr uint64_t kStart = (uint64_t{1} << 20) - 5;  // popcount 18 at the start
  for (uint64_t i = 0; i < kStart; ++i) {
    if (absl::Status s = merkle::WriteLeaves(Hasher(), nodes, i, {leaf}); !s.ok()) Die(s, "fill");
  }
  uint64_t size = kStart;
  for (auto _ : state) {
    if (with_root) {
      absl::StatusOr<std::string> root = merkle::AppendLeaf(Hasher(), nodes, size, leaf);
      if (!root.ok()) Die(root.status(), "append");
    } else if (absl::Status s = merkle::WriteLeaves(Hasher(), nodes, size, {leaf}); !s.ok()) {
      Die(s, "write");
    }
    ++size;
  }
}
void BM_AppendLeafWithRootInMemory(benchmark::State& state) { AppendInMemory(state, /*with_root=*/true); }
void BM_WriteLeafInMemory(benchmark::State& state) { AppendInMemory(state, /*with_root=*/false); }
BENCHMARK(BM_AppendLeafWithRootInMemory);
BENCHMARK(BM_WriteLeafInMemory);

// One Write per batch of `range(0)` leaves, waited for: one fsync per batch.
void BM_AppendPerWrite(benchmark::State& state) {
  const uint64_t batch = static_cast<uint64_t>(state.range(0));
  TempDir dir;
  std::unique_ptr<Store> store = OpenStore(dir.path());
  uint64_t size = 0;
  for (auto _ : state) {
    absl::Status status = store->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
      std::vector<std::string> leaves;
      for (uint64_t i = 0; i < batch; ++i) leaves.push_back(Hasher().HashLeaf(Record(size + i)));
      TransactionNodes nodes(txn);
      absl::StatusOr<std::string> root = merkle::AppendLeaves(Hasher(), nodes, size, leaves);
      if (!root.ok()) return root.status();
      size += batch;
      return absl::OkStatus();
    });
    if (!status.ok()) Die(status, "append");
  }
  state.SetItemsProcessed(static_cast<int64_t>(size));
  state.counters["leaves"] = static_cast<double>(size);
}
BENCHMARK(BM_AppendPerWrite)->Arg(1)->Arg(16)->Arg(256)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The gateway's shape: one leaf per handoff, `range(0)` handoffs queued at
// once, so the writer's group commit shares one fsync among them.
void BM_AppendGroupCommit(benchmark::State& state) {
  const int in_flight = static_cast<int>(state.range(0));
  TempDir dir;
  std::unique_ptr<Store> store = OpenStore(dir.path());
  uint64_t size = 0;  // used on the writer thread only
  std::mutex mu;
  std::condition_variable cv;
  for (auto _ : state) {
    int pending = in_flight;
    for (int i = 0; i < in_flight; ++i) {
      store->Write(
          [&](StoreTransaction& txn) -> absl::Status {
            TransactionNodes nodes(txn);
            absl::StatusOr<std::string> root =
                merkle::AppendLeaf(Hasher(), nodes, size, Hasher().HashLeaf(Record(size)));
            if (!root.ok()) return root.status();
            ++size;
            return absl::OkStatus();
          },
          [&](absl::Status status) {
            if (!status.ok()) Die(status, "append");
            std::lock_guard<std::mutex> lock(mu);
            if (--pending == 0) cv.notify_one();
          });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  state.SetItemsProcessed(static_cast<int64_t>(size));
}
BENCHMARK(BM_AppendGroupCommit)->Arg(1)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

// --- A large log, built once per size and shared by the proof benchmarks. ---

struct LargeLog {
  std::unique_ptr<TempDir> dir;  // declared first: removed after the store closes
  std::unique_ptr<Store> store;
  uint64_t size = 0;
  std::string root;
  double build_leaves_per_second = 0;
  double bytes_per_leaf = 0;
};

// Kept until ReleaseLargeLogs, at the end of main, removes them.
std::map<uint64_t, LargeLog>& LargeLogs() {
  static std::map<uint64_t, LargeLog>* const logs = new std::map<uint64_t, LargeLog>();
  return *logs;
}

LargeLog& GetLargeLog(uint64_t size) {
  LargeLog& log = LargeLogs()[size];
  if (log.store != nullptr) return log;
  log.dir = std::make_unique<TempDir>();
  log.size = size;
  std::fprintf(stderr, "merkle_bench: building a %llu-leaf log in %s ...\n",
               static_cast<unsigned long long>(size), log.dir->path().c_str());
  std::unique_ptr<Store> store = OpenStore(log.dir->path());
  constexpr uint64_t kBatch = 16384;
  const auto start = std::chrono::steady_clock::now();
  uint64_t appended = 0;
  while (appended < size) {
    const uint64_t n = std::min(kBatch, size - appended);
    absl::Status status = store->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
      std::vector<std::string> leaves;
      leaves.reserve(n);
      for (uint64_t i = 0; i < n; ++i) leaves.push_back(Hasher().HashLeaf(Record(appended + i)));
      TransactionNodes nodes(txn);
      absl::StatusOr<std::string> root = merkle::AppendLeaves(Hasher(), nodes, appended, leaves);
      if (!root.ok()) return root.status();
      log.root = *root;
      return absl::OkStatus();
    });
    if (!status.ok()) Die(status, "build");
    appended += n;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log.build_leaves_per_second = static_cast<double>(size) / seconds;
  // Closing checkpoints the WAL into the main file, so the size is the table's.
  store->Shutdown();
  store.reset();
  log.bytes_per_leaf = static_cast<double>(DirectoryBytes(log.dir->path())) / static_cast<double>(size);
  std::fprintf(stderr, "merkle_bench: built in %.1f s (%.0f leaves/s), %.1f bytes/leaf on disk\n", seconds,
               log.build_leaves_per_second, log.bytes_per_leaf);
  log.store = OpenStore(log.dir->path());
  return log;
}

void AddLogCounters(benchmark::State& state, const LargeLog& log) {
  state.counters["leaves"] = static_cast<double>(log.size);
  state.counters["db_bytes_per_leaf"] = log.bytes_per_leaf;
  state.counters["bulk_append_leaves_per_s"] = log.build_leaves_per_second;
}

// Generating an inclusion proof from committed nodes, through the read pool.
void BM_InclusionProof(benchmark::State& state) {
  LargeLog& log = GetLargeLog(static_cast<uint64_t>(state.range(0)));
  CommittedNodes nodes(*log.store);
  std::mt19937_64 rng(42);
  uint64_t hashes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::vector<std::string>> proof =
        merkle::InclusionProof(Hasher(), nodes, rng() % log.size, log.size);
    if (!proof.ok()) Die(proof.status(), "inclusion proof");
    hashes += proof->size();
    benchmark::DoNotOptimize(proof);
  }
  AddLogCounters(state, log);
  state.counters["proof_hashes"] =
      benchmark::Counter(static_cast<double>(hashes), benchmark::Counter::kAvgIterations);
}

// The same through the gateway's cache of upper-level nodes (levels >= 8),
// warmed by earlier proofs as in a running gateway.
void BM_InclusionProofCached(benchmark::State& state) {
  LargeLog& log = GetLargeLog(static_cast<uint64_t>(state.range(0)));
  CommittedNodes store_nodes(*log.store);
  merkle::MerkleNodeCache cache;
  merkle::CachingNodeReader nodes(cache, store_nodes);
  std::mt19937_64 rng(43);
  for (int i = 0; i < 20000; ++i) {
    if (!merkle::InclusionProof(Hasher(), nodes, rng() % log.size, log.size).ok()) Die(absl::InternalError("warm-up"), "proof");
  }
  for (auto _ : state) {
    absl::StatusOr<std::vector<std::string>> proof =
        merkle::InclusionProof(Hasher(), nodes, rng() % log.size, log.size);
    if (!proof.ok()) Die(proof.status(), "inclusion proof");
    benchmark::DoNotOptimize(proof);
  }
  AddLogCounters(state, log);
  state.counters["cached_nodes"] = static_cast<double>(cache.size());
}

// Verifying inclusion proofs (pure hashing; what an offline verifier does).
void BM_VerifyInclusion(benchmark::State& state) {
  LargeLog& log = GetLargeLog(static_cast<uint64_t>(state.range(0)));
  CommittedNodes nodes(*log.store);
  struct Case {
    uint64_t index;
    std::string leaf;
    std::vector<std::string> proof;
  };
  std::vector<Case> cases;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 256; ++i) {
    const uint64_t index = rng() % log.size;
    absl::StatusOr<std::vector<std::string>> proof = merkle::InclusionProof(Hasher(), nodes, index, log.size);
    if (!proof.ok()) Die(proof.status(), "inclusion proof");
    cases.push_back({index, Hasher().HashLeaf(Record(index)), *std::move(proof)});
  }
  size_t next = 0;
  for (auto _ : state) {
    const Case& c = cases[next++ % cases.size()];
    absl::Status status = merkle::VerifyInclusion(Hasher(), c.index, log.size, c.leaf, c.proof, log.root);
    if (!status.ok()) Die(status, "verify inclusion");
  }
  AddLogCounters(state, log);
}

// Generating a consistency proof between random sizes of the log.
void BM_ConsistencyProof(benchmark::State& state) {
  LargeLog& log = GetLargeLog(static_cast<uint64_t>(state.range(0)));
  CommittedNodes nodes(*log.store);
  std::mt19937_64 rng(9);
  for (auto _ : state) {
    const uint64_t size1 = 1 + rng() % log.size;
    absl::StatusOr<std::vector<std::string>> proof = merkle::ConsistencyProof(Hasher(), nodes, size1, log.size);
    if (!proof.ok()) Die(proof.status(), "consistency proof");
    benchmark::DoNotOptimize(proof);
  }
  AddLogCounters(state, log);
}

// Closes the stores and deletes their directories.
void ReleaseLargeLogs() { LargeLogs().clear(); }

void RegisterLargeLogBenchmarks(int64_t size) {
  benchmark::RegisterBenchmark("BM_InclusionProof", BM_InclusionProof)->Arg(size)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_InclusionProofCached", BM_InclusionProofCached)->Arg(size)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_VerifyInclusion", BM_VerifyInclusion)->Arg(size)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_ConsistencyProof", BM_ConsistencyProof)->Arg(size)->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace caselink

int main(int argc, char** argv) {
  caselink::RegisterLargeLogBenchmarks(1'000'000);
  const char* ten_million = std::getenv("CASELINK_BENCH_10M");
  if (ten_million != nullptr && std::string(ten_million) == "1") {
    caselink::RegisterLargeLogBenchmarks(10'000'000);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  caselink::ReleaseLargeLogs();
  benchmark::Shutdown();
  return 0;
}
