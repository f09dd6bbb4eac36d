// The crypto ceiling of a signed handoff on this machine, measured by the load
// generator itself right before a run: every accepted handoff costs the
// gateway one ECDSA P-256 verification (the sender's envelope) and one ECDSA
// P-256 signature (its receipt), so no gateway here can go faster.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace caselink::loadgen {

struct CryptoCeiling {
  double sign_per_cpu_second = 0;    // one thread, EcdsaP256Signer over a receipt-sized message
  double verify_per_cpu_second = 0;  // one thread, EcdsaP256Verifier over an envelope-sized message
  int cores = 1;
  // cores / (1 / sign + 1 / verify): what the cores could do if they did
  // nothing but this crypto.
  double handoffs_per_second = 0;
};

// Runs sign and verify each for about `per_operation` of thread CPU time.
// `envelope_bytes` is the size of the verified message.
absl::StatusOr<CryptoCeiling> MeasureCryptoCeiling(int cores, size_t envelope_bytes,
                                                   absl::Duration per_operation = absl::Milliseconds(700));

}  // namespace caselink::loadgen
