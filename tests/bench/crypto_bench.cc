// Sign/verify throughput of CaseLink's signature wrappers (ECDSA P-256, Ed25519, SM2), compared in
// the same run with `openssl speed` on the same machine, to show what the wrappers cost.
//
//   crypto_bench [--no_openssl] [benchmark flags...]
//
// Messages are 20 bytes, the size `openssl speed` signs, so the ratio measures wrapper overhead
// (context setup per call, strict-DER checks, SM2 ZA) rather than hashing of long inputs.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "tests/bench/bench_support.h"
#include "security/ecdsa_p256.h"
#include "security/ed25519.h"
#include "security/pki.h"
#include "security/signature.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

const std::string kMessage(20, 'm');

struct Algorithm {
  const char* label;          // as printed in the report
  const char* openssl_label;  // what `openssl speed` prints in parentheses
  absl::StatusOr<KeyPair> (*generate)();
  std::unique_ptr<Signer> (*signer)(const KeyPair&);
  std::unique_ptr<Verifier> (*verifier)(const KeyPair&);
};

template <typename T>
std::unique_ptr<T> OrDie(absl::StatusOr<std::unique_ptr<T>> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "crypto_bench: setup failed: %s\n", v.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(v);
}

const Algorithm kAlgorithms[] = {
    {"ECDSA P-256", "nistp256", GenerateEcP256KeyPair,
     [](const KeyPair& k) -> std::unique_ptr<Signer> { return OrDie(EcdsaP256Signer::Create(k.private_key_pem, "b")); },
     [](const KeyPair& k) -> std::unique_ptr<Verifier> {
       return OrDie(EcdsaP256Verifier::CreateFromPublicKeyPem(k.public_key_pem));
     }},
    {"Ed25519", "Ed25519", GenerateEd25519KeyPair,
     [](const KeyPair& k) -> std::unique_ptr<Signer> { return OrDie(Ed25519Signer::Create(k.private_key_pem, "b")); },
     [](const KeyPair& k) -> std::unique_ptr<Verifier> {
       return OrDie(Ed25519Verifier::CreateFromPublicKeyPem(k.public_key_pem));
     }},
    {"SM2-SM3", "CurveSM2", GenerateSm2KeyPair,
     [](const KeyPair& k) -> std::unique_ptr<Signer> { return OrDie(Sm2Signer::Create(k.private_key_pem, "b")); },
     [](const KeyPair& k) -> std::unique_ptr<Verifier> {
       return OrDie(Sm2Verifier::CreateFromPublicKeyPem(k.public_key_pem));
     }},
};

KeyPair KeyFor(const Algorithm& algorithm) {
  absl::StatusOr<KeyPair> key = algorithm.generate();
  if (!key.ok()) {
    std::fprintf(stderr, "crypto_bench: key generation failed: %s\n", key.status().ToString().c_str());
    std::exit(1);
  }
  return *key;
}

void BM_Sign(benchmark::State& state, const Algorithm* algorithm) {
  const KeyPair key = KeyFor(*algorithm);
  std::unique_ptr<Signer> signer = algorithm->signer(key);
  for (auto _ : state) {
    absl::StatusOr<std::string> signature = signer->Sign(kMessage);
    if (!signature.ok()) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Verify(benchmark::State& state, const Algorithm* algorithm) {
  const KeyPair key = KeyFor(*algorithm);
  std::unique_ptr<Verifier> verifier = algorithm->verifier(key);
  const std::string signature = *algorithm->signer(key)->Sign(kMessage);
  for (auto _ : state) {
    absl::Status status = verifier->Verify(signature, kMessage);
    if (!status.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
}

struct OpenSslRates {
  double sign = 0;
  double verify = 0;
};

// Runs `openssl speed` and reads "<bits> bits <name> (<curve>) <t>s <t>s <sign/s> <verify/s>".
std::map<std::string, OpenSslRates> RunOpenSslSpeed() {
  std::map<std::string, OpenSslRates> out;
  const char* command = "openssl speed -seconds 3 ecdsap256 ed25519 sm2 2>/dev/null";
  std::printf("\nrunning: %s\n", command);
  std::fflush(stdout);
  FILE* pipe = popen(command, "r");
  if (pipe == nullptr) {
    std::fprintf(stderr, "crypto_bench: cannot run openssl speed\n");
    return out;
  }
  char line[512];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::fputs(line, stdout);
    for (const Algorithm& algorithm : kAlgorithms) {
      const std::string tag = std::string("(") + algorithm.openssl_label + ")";
      if (std::strstr(line, tag.c_str()) == nullptr) continue;
      std::istringstream fields(line);
      std::vector<std::string> tokens;
      for (std::string token; fields >> token;) tokens.push_back(token);
      if (tokens.size() >= 2) {
        out[algorithm.openssl_label] = {std::strtod(tokens[tokens.size() - 2].c_str(), nullptr),
                                        std::strtod(tokens.back().c_str(), nullptr)};
      }
    }
  }
  const int rc = pclose(pipe);
  if (rc != 0) std::fprintf(stderr, "crypto_bench: openssl speed exited with status %d\n", rc);
  return out;
}

}  // namespace
}  // namespace caselink::security

int main(int argc, char** argv) {
  using caselink::security::kAlgorithms;
  bool run_openssl = true;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no_openssl") == 0) {
      run_openssl = false;
    } else {
      args.push_back(argv[i]);
    }
  }
  int benchmark_argc = static_cast<int>(args.size());
  for (const auto& algorithm : kAlgorithms) {
    benchmark::RegisterBenchmark((std::string("Sign/") + algorithm.label).c_str(), caselink::security::BM_Sign,
                                 &algorithm);
    benchmark::RegisterBenchmark((std::string("Verify/") + algorithm.label).c_str(),
                                 caselink::security::BM_Verify, &algorithm);
  }
  benchmark::Initialize(&benchmark_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, args.data())) return 1;
  caselink::bench::RateCollector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (!run_openssl) return 0;

  const auto openssl = caselink::security::RunOpenSslSpeed();
  std::printf("\n%-12s %-7s %14s %14s %8s\n", "algorithm", "op", "wrapper ops/s", "openssl ops/s", "ratio");
  for (const auto& algorithm : kAlgorithms) {
    auto it = openssl.find(algorithm.openssl_label);
    for (const bool sign : {true, false}) {
      const double wrapper = reporter.CpuRate(std::string(sign ? "Sign/" : "Verify/") + algorithm.label);
      const double reference = it == openssl.end() ? 0 : (sign ? it->second.sign : it->second.verify);
      if (reference > 0) {
        std::printf("%-12s %-7s %14.1f %14.1f %8.3f\n", algorithm.label, sign ? "sign" : "verify", wrapper,
                    reference, wrapper / reference);
      } else {
        std::printf("%-12s %-7s %14.1f %14s %8s\n", algorithm.label, sign ? "sign" : "verify", wrapper, "n/a",
                    "n/a");
      }
    }
  }
  return 0;
}
