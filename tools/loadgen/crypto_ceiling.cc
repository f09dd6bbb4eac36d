// Crypto ceiling: single-thread ECDSA P-256 through CaseLink's own wrappers,
// timed in thread CPU time so other load on a shared machine counts less.
#include "tools/loadgen/crypto_ceiling.h"

#include <time.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "security/ecdsa_p256.h"
#include "security/pki.h"

namespace caselink::loadgen {
namespace {

// A SubmissionReceipt serializes to about this many bytes.
constexpr size_t kReceiptBytes = 160;

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Calls `op` in rounds of 64 until `budget` of thread CPU time is used; returns ops per CPU second.
template <typename Op>
absl::StatusOr<double> Rate(absl::Duration budget, Op op) {
  const double limit = absl::ToDoubleSeconds(budget);
  const double start = ThreadCpuSeconds();
  uint64_t count = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 64; ++i) {
      if (absl::Status s = op(); !s.ok()) return s;
    }
    count += 64;
    elapsed = ThreadCpuSeconds() - start;
  } while (elapsed < limit);
  return static_cast<double>(count) / elapsed;
}

}  // namespace

absl::StatusOr<CryptoCeiling> MeasureCryptoCeiling(int cores, size_t envelope_bytes, absl::Duration per_operation) {
  absl::StatusOr<security::KeyPair> key = security::GenerateEcP256KeyPair();
  if (!key.ok()) return key.status();
  absl::StatusOr<std::unique_ptr<security::EcdsaP256Signer>> signer =
      security::EcdsaP256Signer::Create(key->private_key_pem, "ceiling");
  if (!signer.ok()) return signer.status();
  absl::StatusOr<std::unique_ptr<security::EcdsaP256Verifier>> verifier =
      security::EcdsaP256Verifier::CreateFromPublicKeyPem(key->public_key_pem);
  if (!verifier.ok()) return verifier.status();

  const std::string receipt(kReceiptBytes, 'r');
  const std::string envelope(envelope_bytes, 'e');
  absl::StatusOr<std::string> signature = (*signer)->Sign(envelope);
  if (!signature.ok()) return signature.status();

  CryptoCeiling out;
  out.cores = cores < 1 ? 1 : cores;
  absl::StatusOr<double> sign = Rate(per_operation, [&]() -> absl::Status {
    absl::StatusOr<std::string> s = (*signer)->Sign(receipt);
    return s.status();
  });
  if (!sign.ok()) return sign.status();
  absl::StatusOr<double> verify = Rate(per_operation, [&]() { return (*verifier)->Verify(*signature, envelope); });
  if (!verify.ok()) return verify.status();
  out.sign_per_cpu_second = *sign;
  out.verify_per_cpu_second = *verify;
  out.handoffs_per_second = out.cores / (1.0 / *sign + 1.0 / *verify);
  return out;
}

}  // namespace caselink::loadgen
