// Per-request cost of checking the sender's signing certificate: a full chain
// validation (what every request paid before) against SigningTrust's cached answer,
// with and without CRLs, measured in the same run; the same for agency TLS client
// certificates, checked on every RPC.
#include <filesystem>
#include <fstream>

#include <benchmark/benchmark.h>

#include "gateway/signing_trust.h"
#include "security/certificate.h"
#include "security/pki.h"

namespace caselink {
namespace {

struct Fixture {
  std::string ca_pem;
  std::string crl_file;
  std::unique_ptr<security::Certificate> leaf;
  std::unique_ptr<security::Certificate> tls_leaf;

  Fixture() {
    const absl::Time now = absl::Now();
    auto ca_key = security::GenerateEcP256KeyPair();
    security::CertificateRequest ca;
    ca.common_name = "Bench CA";
    ca.public_key_pem = ca_key->public_key_pem;
    ca.profile = security::CertificateProfile::kCa;
    ca.not_before = now - absl::Hours(1);
    ca.not_after = now + absl::Hours(24 * 365);
    ca_pem = *security::IssueCertificate(ca, "", ca_key->private_key_pem);
    auto leaf_key = security::GenerateEcP256KeyPair();
    security::CertificateRequest req;
    req.common_name = "bench signer";
    req.public_key_pem = leaf_key->public_key_pem;
    req.profile = security::CertificateProfile::kSigning;
    req.not_before = now - absl::Hours(1);
    req.not_after = now + absl::Hours(24 * 30);
    leaf = std::move(*security::Certificate::FromPem(*security::IssueCertificate(req, ca_pem, ca_key->private_key_pem)));
    req.common_name = "bench agency tls";
    req.profile = security::CertificateProfile::kTlsClient;
    tls_leaf = std::move(*security::Certificate::FromPem(*security::IssueCertificate(req, ca_pem, ca_key->private_key_pem)));
    crl_file = (std::filesystem::temp_directory_path() / "caselink-bench-signing.crl").string();
    std::ofstream(crl_file) << *security::IssueCrl(ca_pem, ca_key->private_key_pem, {}, now - absl::Hours(1),
                                                   now + absl::Hours(24));
  }
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

void BM_ChainValidationEveryRequest(benchmark::State& state) {
  auto validator = security::ChainValidator::Create(F().ca_pem);
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize((*validator)->Validate(*F().leaf, now, security::KeyPurpose::kSigning));
  }
}
BENCHMARK(BM_ChainValidationEveryRequest);

void BM_ChainValidationWithCrlEveryRequest(benchmark::State& state) {
  std::ifstream in(F().crl_file);
  std::string crl((std::istreambuf_iterator<char>(in)), {});
  auto validator = security::ChainValidator::Create(F().ca_pem, crl);
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize((*validator)->Validate(*F().leaf, now, security::KeyPurpose::kSigning));
  }
}
BENCHMARK(BM_ChainValidationWithCrlEveryRequest);

// The gateway's path: cached per key; with CRLs, the file is stat'ed once a second.
void BM_SigningTrustCached(benchmark::State& state) {
  std::vector<std::string> crls;
  if (state.range(0) == 1) crls.push_back(F().crl_file);
  auto trust = SigningTrust::Create(F().ca_pem, crls);
  for (auto _ : state) {
    benchmark::DoNotOptimize((*trust)->Validate(*F().leaf, absl::Now()));
  }
  state.counters["chain_validations"] = static_cast<double>((*trust)->chain_validations());
}
BENCHMARK(BM_SigningTrustCached)->Arg(0)->Arg(1)->ArgName("crl");

// What every RPC adds for the caller's TLS client certificate: the same cache.
void BM_TlsClientTrustCached(benchmark::State& state) {
  std::vector<std::string> crls;
  if (state.range(0) == 1) crls.push_back(F().crl_file);
  auto trust = SigningTrust::Create(F().ca_pem, crls, absl::Seconds(1), F().ca_pem);
  for (auto _ : state) {
    benchmark::DoNotOptimize((*trust)->ValidateTlsClient(*F().tls_leaf, absl::Now()));
  }
  state.counters["chain_validations"] = static_cast<double>((*trust)->chain_validations());
}
BENCHMARK(BM_TlsClientTrustCached)->Arg(0)->Arg(1)->ArgName("crl");

void BM_TlsChainValidationWithCrlEveryRequest(benchmark::State& state) {
  std::ifstream in(F().crl_file);
  std::string crl((std::istreambuf_iterator<char>(in)), {});
  auto validator = security::ChainValidator::Create(F().ca_pem, crl);
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize((*validator)->Validate(*F().tls_leaf, now, security::KeyPurpose::kTlsClient));
  }
}
BENCHMARK(BM_TlsChainValidationWithCrlEveryRequest);

}  // namespace
}  // namespace caselink

BENCHMARK_MAIN();
