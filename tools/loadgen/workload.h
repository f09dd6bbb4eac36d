// Pre-built, pre-signed Submit requests for a load run, made before the clock
// starts so that the run measures the gateway and not the sender's signing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "caselink/v1/services.pb.h"
#include "tools/client/agency_client.h"

namespace caselink::loadgen {

enum class WorkloadKind {
  kTransfers,  // every request a transfer by the EPB that opens a new case
  kMixed,      // per case: transfer (EPB), then receipt and filing (PSB), in equal numbers
};

// The documents the procedure table asks for, uploaded once and referenced by
// every envelope (documents travel by reference, so the gateway only checks
// that they are stored with the signed size).
struct WorkloadDocuments {
  std::vector<v1::DocumentRef> transfer_package;  // transfer letter, investigation report, seized items
  std::vector<v1::DocumentRef> filing;            // filing notice
};

// Uploads the documents through `epb` (transfer package) and `psb` (filing notice).
absl::StatusOr<WorkloadDocuments> UploadWorkloadDocuments(AgencyClient& epb, AgencyClient& psb);

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::kTransfers;
  // Requests to build; a mixed workload rounds up to whole cases (3 per case).
  size_t requests = 0;
  // Every serialized Envelope is padded (in remarks) to about this size.
  size_t envelope_bytes = 1024;
  // Part of every case id, so that runs against one gateway never collide.
  std::string run_tag;
  // Mixed: a case's receipt is placed this many cases after its transfer, and
  // its filing as many after the receipt, so that in a steady run the
  // predecessor has been answered long before.
  size_t mixed_lag_cases = 512;
  // Threads that sign in parallel.
  int threads = 1;
  // Envelope ids: ordered by time, as CaseLink's client makes them (false), or
  // random, as a sender that does not order its ids sends them (true).
  bool random_envelope_ids = false;
};

struct PreparedSubmit {
  v1::SubmitRequest request;
  int agency = 0;            // index into Workload::agencies: whose connections send it
  int64_t predecessor = -1;  // index of the request that must be answered before this one is sent
  bool has_dependent = false;
};

struct Workload {
  std::vector<std::string> agencies;  // agency ids; PreparedSubmit::agency indexes this
  std::vector<PreparedSubmit> submits;
  double mean_envelope_bytes = 0;
};

// Signs with the agencies' own keys from `identities` ("<region>.epb" first,
// then "<region>.psb" for a mixed workload).
absl::StatusOr<Workload> BuildWorkload(const WorkloadOptions& options, const std::vector<AgencyIdentity>& identities,
                                       const WorkloadDocuments& documents);

}  // namespace caselink::loadgen
