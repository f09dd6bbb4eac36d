// The gateway's per-handoff CPU work outside the store, each next to a raw
// OpenSSL EVP baseline measured in the same run: parsing and verifying a
// signed ~1 KiB transfer (what the Submit handler does before the store sees
// it, with its id and document checks) and serializing and signing the
// submission receipt (what the single store writer does for every accepted handoff).
//
//   handoff_bench [benchmark flags...]
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "benchmark/benchmark.h"
#include "tests/bench/bench_support.h"
#include "caselink/v1/case.pb.h"
#include "caselink/v1/services.pb.h"
#include "adapters/blob/blob_store.h"
#include "gateway/audit_log.h"
#include "gateway/document_checks.h"
#include "gateway/document_facts_cache.h"
#include "gateway/id_syntax.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"
#include "security/pki.h"
#include "tools/loadgen/workload.h"

namespace caselink {
namespace {

using bench::Die;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

template <typename T>
T OrDie(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + v.status().ToString());
  return *std::move(v);
}

Pkey ReadKey(const std::string& pem, bool is_private) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) Die("BIO_new_mem_buf failed");
  Pkey key(is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) Die("cannot read the PEM key");
  return key;
}

// Everything the benchmarks share, made once: an EPB key, a signed transfer
// as it arrives on the wire, and the same key for the raw EVP baselines.
struct Fixture {
  security::KeyPair key;
  Pkey public_key;
  Pkey private_key;
  std::unique_ptr<security::EcdsaP256Verifier> verifier;
  std::unique_ptr<security::EcdsaP256Signer> signer;
  std::string request_wire;  // serialized SubmitRequest
  std::string envelope;      // SignedEnvelope.envelope
  std::string signature;     // SignedEnvelope.signature.value
  std::string envelope_id;
  std::string case_id;
};

const Fixture& Shared() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    f->key = OrDie(security::GenerateEcP256KeyPair(), "key generation");
    f->public_key = ReadKey(f->key.public_key_pem, false);
    f->private_key = ReadKey(f->key.private_key_pem, true);
    f->verifier = OrDie(security::EcdsaP256Verifier::CreateFromPublicKeyPem(f->key.public_key_pem), "verifier");
    f->signer = OrDie(security::EcdsaP256Signer::Create(f->key.private_key_pem, "gateway-1"), "signer");

    // The same transfer the load generator sends: suspects, the transfer
    // package by reference, padded to 1 KiB.
    AgencyIdentity epb;
    epb.agency_id = "510100.epb";
    epb.signing_key_pem = f->key.private_key_pem;
    epb.signing_key_id = "510100.epb-1";
    loadgen::WorkloadDocuments docs;
    for (v1::DocumentType type : {v1::TRANSFER_LETTER, v1::INVESTIGATION_REPORT, v1::SEIZED_ITEMS_LIST}) {
      v1::DocumentRef ref;
      ref.set_type(type);
      ref.set_title("案件材料");
      ref.set_media_type("application/pdf");
      ref.set_size_bytes(123456);
      ref.mutable_digest()->set_algorithm(v1::SHA256);
      ref.mutable_digest()->set_value(security::Sha256(v1::DocumentType_Name(type)));
      docs.transfer_package.push_back(ref);
    }
    loadgen::WorkloadOptions options;
    options.requests = 1;
    options.run_tag = "bench";
    loadgen::Workload w = OrDie(loadgen::BuildWorkload(options, {epb}, docs), "workload");
    const v1::SubmitRequest& request = w.submits.at(0).request;
    f->request_wire = request.SerializeAsString();
    f->envelope = request.envelope().envelope();
    f->signature = request.envelope().signature().value();
    v1::Envelope e;
    if (!e.ParseFromString(f->envelope)) Die("envelope does not parse");
    f->envelope_id = e.envelope_id();
    f->case_id = e.case_id();
    return f;
  }();
  return *fixture;
}

// --- Baselines: raw OpenSSL, a fresh EVP_MD_CTX per call as a minimal caller would. ---

void BM_RawEvpVerify(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.public_key.get()) != 1 ||
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(f.signature.data()), f.signature.size(),
                         reinterpret_cast<const unsigned char*>(f.envelope.data()), f.envelope.size()) != 1) {
      state.SkipWithError("raw verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawEvpVerify);

void BM_RawEvpSign(benchmark::State& state) {
  const Fixture& f = Shared();
  const std::string message(160, 'r');  // a serialized receipt is about this long
  unsigned char out[80];
  for (auto _ : state) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t length = sizeof(out);
    if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.private_key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), out, &length, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
      state.SkipWithError("raw sign failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawEvpSign);

// The envelope digest (the handler hashes every envelope) beside EVP_Digest
// with a digest fetched once, the floor for it.
void BM_RawEvpDigestEnvelope(benchmark::State& state) {
  const Fixture& f = Shared();
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  for (auto _ : state) {
    if (EVP_Digest(f.envelope.data(), f.envelope.size(), out, &size, md, nullptr) != 1) {
      state.SkipWithError("raw digest failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
}
BENCHMARK(BM_RawEvpDigestEnvelope);

void BM_Sha256Envelope(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) benchmark::DoNotOptimize(security::Sha256(f.envelope));
}
BENCHMARK(BM_Sha256Envelope);

// --- CaseLink's wrappers and the handler's steps. ---

void BM_WrapperVerify(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    absl::Status s = f.verifier->Verify(f.signature, f.envelope);
    if (!s.ok()) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WrapperVerify);

// What the Submit handler does with the bytes before any store access:
// parse the request and the envelope, digest it, verify the signature.
void BM_EnvelopeParseVerify(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    v1::SubmitRequest request;
    v1::Envelope envelope;
    if (!request.ParseFromString(f.request_wire) || !envelope.ParseFromString(request.envelope().envelope())) {
      state.SkipWithError("parse failed");
      break;
    }
    std::string digest = security::Sha256(request.envelope().envelope());
    absl::Status s = f.verifier->Verify(request.envelope().signature().value(), request.envelope().envelope());
    if (!s.ok()) {
      state.SkipWithError("verify failed");
      break;
    }
    benchmark::DoNotOptimize(digest);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["envelope_bytes"] = static_cast<double>(f.envelope.size());
}
BENCHMARK(BM_EnvelopeParseVerify);

// Parsing alone, to split the line above.
void BM_EnvelopeParse(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    v1::SubmitRequest request;
    v1::Envelope envelope;
    if (!request.ParseFromString(f.request_wire) || !envelope.ParseFromString(request.envelope().envelope())) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(envelope);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnvelopeParse);

// The handler checked envelope_id and case_id with std::regex (the pattern as the
// submission pipeline had it); a hand-written check is the baseline.
const std::regex& IdPattern() {
  static const std::regex* pattern = new std::regex("^[A-Za-z0-9._:-]{1,128}$");
  return *pattern;
}

bool IdChars(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void BM_IdCheckRegex(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    const bool ok = std::regex_match(f.envelope_id, IdPattern()) && std::regex_match(f.case_id, IdPattern());
    if (!ok) state.SkipWithError("id did not match");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdCheckRegex);

void BM_IdCheckLoop(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    bool ok = IdChars(f.envelope_id) && IdChars(f.case_id);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("id did not match");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdCheckLoop);

// The check the pipeline runs now (gateway/id_syntax.h), on the same ids.
void BM_IdCheckPipeline(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    bool ok = IsValidId(f.envelope_id) && IsValidId(f.case_id);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("id did not match");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdCheckPipeline);

// The Submit handler hands the request's SignedEnvelope to the pipeline by value: what a copy
// costs against a move, with the parse it follows as the scale.
void BM_SignedEnvelopeCopy(benchmark::State& state) {
  const Fixture& f = Shared();
  v1::SubmitRequest request;
  if (!request.ParseFromString(f.request_wire)) Die("request does not parse");
  for (auto _ : state) {
    v1::SignedEnvelope copy = request.envelope();
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignedEnvelopeCopy);

void BM_SignedEnvelopeMove(benchmark::State& state) {
  const Fixture& f = Shared();
  v1::SubmitRequest request;
  if (!request.ParseFromString(f.request_wire)) Die("request does not parse");
  for (auto _ : state) {
    v1::SignedEnvelope moved = std::move(*request.mutable_envelope());
    benchmark::DoNotOptimize(moved);
    *request.mutable_envelope() = std::move(moved);  // put it back for the next round
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignedEnvelopeMove);

// The document checks of Submit for an envelope referencing three stored blobs: asking the blob
// store (a stat per document) on every request, against answering from the facts remembered.
struct DocumentFixture {
  std::string root;
  std::unique_ptr<BlobStore> blobs;
  v1::Envelope envelope;
};

const DocumentFixture& Documents() {
  static const DocumentFixture* const fixture = [] {
    auto* f = new DocumentFixture;
    std::string dir = (std::filesystem::temp_directory_path() / "handoff_bench.XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) Die("mkdtemp failed");
    f->root = dir;
    f->blobs = OrDie(OpenFileBlobStore(dir), "blob store");
    for (v1::DocumentType type : {v1::TRANSFER_LETTER, v1::INVESTIGATION_REPORT, v1::SEIZED_ITEMS_LIST}) {
      const std::string bytes = v1::DocumentType_Name(type) + std::string(4096, 'd');
      auto writer = OrDie(f->blobs->BeginWrite(), "blob writer");
      if (!writer->Append(bytes).ok()) Die("blob append failed");
      OrDie(writer->Finish(), "blob finish");
      v1::DocumentRef* ref = f->envelope.add_documents();
      ref->set_type(type);
      ref->set_title("案件材料");
      ref->set_size_bytes(bytes.size());
      ref->mutable_digest()->set_algorithm(v1::SHA256);
      ref->mutable_digest()->set_value(security::Sha256(bytes));
    }
    std::atexit([] { std::filesystem::remove_all(Documents().root); });
    return f;
  }();
  return *fixture;
}

void BM_DocumentChecksStat(benchmark::State& state) {
  const DocumentFixture& f = Documents();
  for (auto _ : state) {
    if (!CheckDocumentRefs(f.envelope, *f.blobs, v1::INTL, nullptr).ok()) {
      state.SkipWithError("document check failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DocumentChecksStat);

void BM_DocumentChecksRemembered(benchmark::State& state) {
  const DocumentFixture& f = Documents();
  DocumentFactsCache cache;
  for (auto _ : state) {
    if (!CheckDocumentRefs(f.envelope, *f.blobs, v1::INTL, nullptr, &cache).ok()) {
      state.SkipWithError("document check failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DocumentChecksRemembered);

// What the store writer does for every accepted handoff besides SQL: build
// the receipt, serialize it deterministically, sign it.
void BM_ReceiptSign(benchmark::State& state) {
  const Fixture& f = Shared();
  const std::string digest = security::Sha256(f.envelope);
  uint64_t index = 1'000'000;
  size_t bytes = 0;
  for (auto _ : state) {
    v1::SubmissionReceipt receipt;
    receipt.set_envelope_id(f.envelope_id);
    receipt.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    receipt.mutable_envelope_digest()->set_value(digest);
    receipt.set_case_id(f.case_id);
    receipt.set_resulting_state(v1::TRANSFERRED);
    receipt.set_audit_index(index);
    receipt.set_tree_size(index + 1);
    *receipt.mutable_gateway_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    receipt.set_sender_agency("510100.epb");
    ++index;
    v1::SignedSubmissionReceipt signed_receipt;
    signed_receipt.set_receipt(SerializeCanonical(receipt));
    absl::StatusOr<std::string> signature = f.signer->Sign(signed_receipt.receipt());
    if (!signature.ok()) {
      state.SkipWithError("sign failed");
      break;
    }
    signed_receipt.mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
    signed_receipt.mutable_signature()->set_key_id(f.signer->key_id());
    signed_receipt.mutable_signature()->set_value(*std::move(signature));
    bytes = signed_receipt.receipt().size();
    benchmark::DoNotOptimize(signed_receipt);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["receipt_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ReceiptSign);

void PrintRatio(const bench::RateCollector& r, const char* label, const char* ours, const char* baseline) {
  const double a = r.CpuRate(ours);
  const double b = r.CpuRate(baseline);
  if (a > 0 && b > 0) {
    std::printf("%-44s %12.0f %12.0f %8.3f\n", label, a, b, a / b);
  } else {
    std::printf("%-44s %12s %12s %8s\n", label, "n/a", "n/a", "n/a");
  }
}

}  // namespace
}  // namespace caselink

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  caselink::bench::RateCollector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::printf("\n%-44s %12s %12s %8s\n", "ours vs baseline (ops per CPU second)", "ours", "baseline", "ratio");
  caselink::PrintRatio(reporter, "verify: EcdsaP256Verifier vs raw EVP", "BM_WrapperVerify", "BM_RawEvpVerify");
  caselink::PrintRatio(reporter, "parse + digest + verify vs raw EVP verify", "BM_EnvelopeParseVerify",
                       "BM_RawEvpVerify");
  caselink::PrintRatio(reporter, "receipt build + serialize + sign vs raw sign", "BM_ReceiptSign", "BM_RawEvpSign");
  caselink::PrintRatio(reporter, "id check: std::regex vs a loop", "BM_IdCheckRegex", "BM_IdCheckLoop");
  caselink::PrintRatio(reporter, "id check: pipeline's IsValidId vs a loop", "BM_IdCheckPipeline", "BM_IdCheckLoop");
  caselink::PrintRatio(reporter, "SignedEnvelope: copy vs move (x2)", "BM_SignedEnvelopeCopy", "BM_SignedEnvelopeMove");
  caselink::PrintRatio(reporter, "3 document checks: remembered vs stat each", "BM_DocumentChecksRemembered",
                       "BM_DocumentChecksStat");
  return 0;
}
