// Audit commands. Verification needs nothing but files and the gateway's
// public certificate: no connection, no trust in the exporter.
#include "tools/caselinkctl/audit_command.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "adapters/store/store.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/audit_log.h"
#include "gateway/case_bundle.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/merkle/proofs.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

using cli::Fail;
using cli::Flags;

constexpr char kUsage[] =
    "usage: caselinkctl audit SUBCOMMAND [flags]\n"
    "\n"
    "Online (as an agency: --pki, --agency, --gateway):\n"
    "  tree-head [--size N] [--out FILE]          the signed tree head (latest, or at size N)\n"
    "  consistency --first A --second B           prove the log at size B extends the log at size A\n"
    "  query [--case ID] [--agency ID] [--action A] [--outcome O] [--page-size N] [--json]\n"
    "  bundle CASE_ID --out FILE                  export a case's evidence bundle\n"
    "  evidence CASE_ID [--out-dir DIR]           what the gateway signed about the case: receipts\n"
    "                                             (accepted), acknowledged deliveries, retrieved\n"
    "                                             documents; DIR gets one file each for 'verify'\n"
    "Offline:\n"
    "  export --data-dir DIR --out FILE           export the log of a gateway's data directory\n"
    "  verify (--log FILE | --data-dir DIR) --gateway-cert PEM [--tree-head FILE]\n"
    "                                             check a log against a signed tree head\n"
    "  verify-bundle FILE --gateway-cert PEM [--ca PEM]\n"
    "                                             check a case bundle\n";

absl::StatusOr<std::unique_ptr<security::Verifier>> GatewayKey(const Flags& flags) {
  const std::string path = flags.Get("gateway-cert");
  if (path.empty()) return absl::InvalidArgumentError("--gateway-cert PEM (the gateway's receipt-signing certificate) is required");
  auto pem = cli::ReadFile(path);
  if (!pem.ok()) return pem.status();
  auto cert = security::Certificate::FromPem(*pem);
  if (!cert.ok()) return cert.status();
  // Whichever key the gateway signs with: P-256 or Ed25519 under INTL, SM2 under GM.
  return security::CreateVerifierFromCertificate(**cert);
}

absl::StatusOr<v1::SignedTreeHead> FetchTreeHead(AgencyClient& client, uint64_t size) {
  auto audit = v1::AuditService::NewStub(client.channel());
  grpc::ClientContext ctx;
  v1::GetTreeHeadRequest req;
  req.set_tree_size(size);
  v1::SignedTreeHead sth;
  auto st = audit->GetTreeHead(&ctx, req, &sth);
  if (!st.ok()) return FromGrpcStatus(st);
  return sth;
}

void PrintTreeHead(const v1::SignedTreeHead& sth) {
  v1::TreeHead head;
  head.ParseFromString(sth.tree_head());
  std::cout << "tree size " << head.tree_size() << "\nroot      " << security::HexEncode(head.root_hash()) << " ("
            << v1::DigestAlgorithm_Name(head.hash_algorithm()) << ")\ntime      " << cli::FormatTime(head.timestamp())
            << "\nsigned by " << sth.signature().key_id() << "\n";
}

absl::StatusOr<v1::AuditLogExport> ExportFromDataDir(const std::string& data_dir) {
  SqliteStoreOptions options;
  options.data_dir = data_dir;
  options.read_connections = 1;
  auto store = OpenSqliteStore(options);
  if (!store.ok()) return store.status();
  auto exported = ExportAuditLog(**store);
  (*store)->Shutdown();
  return exported;
}

int TreeHead(const Flags& global, const Flags& flags) {
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  auto sth = FetchTreeHead(**client, std::stoull(flags.Get("size", "0")));
  if (!sth.ok()) return Fail(sth.status());
  PrintTreeHead(*sth);
  if (flags.Has("out")) {
    if (auto st = cli::WriteFile(flags.Get("out"), sth->SerializeAsString()); !st.ok()) return Fail(st);
  }
  return 0;
}

int Consistency(const Flags& global, const Flags& flags) {
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  const uint64_t first = std::stoull(flags.Get("first", "0")), second = std::stoull(flags.Get("second", "0"));
  auto first_head = FetchTreeHead(**client, first);
  auto second_head = FetchTreeHead(**client, second);
  if (!first_head.ok()) return Fail(first_head.status());
  if (!second_head.ok()) return Fail(second_head.status());
  auto audit = v1::AuditService::NewStub((*client)->channel());
  grpc::ClientContext ctx;
  v1::ConsistencyProofRequest req;
  req.set_first_tree_size(first);
  req.set_second_tree_size(second);
  v1::ConsistencyProof proof;
  if (auto st = audit->GetConsistencyProof(&ctx, req, &proof); !st.ok()) return Fail(FromGrpcStatus(st));
  v1::TreeHead a, b;
  a.ParseFromString(first_head->tree_head());
  b.ParseFromString(second_head->tree_head());
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  auto st = merkle::VerifyConsistency(AuditTreeHasher(), first, second, path, a.root_hash(), b.root_hash());
  if (!st.ok()) return Fail(st);
  std::cout << "consistent: the log at size " << second << " extends the log at size " << first << " (" << path.size()
            << " proof hashes)\n";
  return 0;
}

int Query(const Flags& global, const Flags& flags) {
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  v1::AuditQueryRequest req;
  req.set_case_id(flags.Get("case"));
  req.set_agency(flags.Get("agency"));
  req.set_action(flags.Get("action"));
  v1::AuditRecord::Outcome outcome = v1::AuditRecord::OUTCOME_UNSPECIFIED;
  if (flags.Has("outcome") && !v1::AuditRecord::Outcome_Parse(flags.Get("outcome"), &outcome)) {
    return Fail(absl::InvalidArgumentError("--outcome is one of ACCEPTED, REFUSED, DELIVERED, ACKNOWLEDGED, SYSTEM"));
  }
  req.set_outcome(outcome);
  req.set_page_size(std::stoul(flags.Get("page-size", "100")));
  auto audit = v1::AuditService::NewStub((*client)->channel());
  grpc::ClientContext ctx;
  v1::AuditQueryResponse resp;
  if (auto st = audit->Query(&ctx, req, &resp); !st.ok()) return Fail(FromGrpcStatus(st));
  if (flags.Has("json")) return std::cout << cli::ToJson(resp) << "\n", 0;
  for (const auto& r : resp.records()) {
    std::cout << "#" << r.index() << "  " << cli::FormatTime(r.time()) << "  " << (r.actor_agency().empty() ? "-" : r.actor_agency())
              << "  " << r.action() << "  " << v1::AuditRecord::Outcome_Name(r.outcome());
    if (!r.case_id().empty()) std::cout << "  case " << r.case_id();
    if (!r.status_code().empty()) std::cout << "  " << r.status_code();
    if (!r.reason().empty()) std::cout << "  " << r.reason();
    std::cout << "\n";
  }
  if (!resp.next_page_token().empty()) std::cout << "(more: next page starts at index " << resp.next_page_token() << ")\n";
  return 0;
}

int Bundle(const Flags& global, const Flags& flags) {
  if (flags.positional.size() != 2 || !flags.Has("out")) return std::cerr << kUsage, 2;
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  auto audit = v1::AuditService::NewStub((*client)->channel());
  grpc::ClientContext ctx;
  v1::ExportCaseRequest req;
  req.set_case_id(flags.positional[1]);
  v1::CaseBundle bundle;
  if (auto st = audit->ExportCase(&ctx, req, &bundle); !st.ok()) return Fail(FromGrpcStatus(st));
  if (auto st = cli::WriteFile(flags.Get("out"), bundle.SerializeAsString()); !st.ok()) return Fail(st);
  std::cout << "bundle of case " << bundle.case_id() << ": " << bundle.envelopes_size() << " envelopes, " << bundle.audit_entries_size()
            << " audit entries with inclusion proofs -> " << flags.Get("out") << "\n";
  return 0;
}

// The case's proof of handling, from its bundle: each acceptance (receipt) and each
// piece of evidence, with time and signer; optionally one file each for `caselinkctl verify`.
int Evidence(const Flags& global, const Flags& flags) {
  if (flags.positional.size() != 2) return std::cerr << kUsage, 2;
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  auto audit = v1::AuditService::NewStub((*client)->channel());
  grpc::ClientContext ctx;
  v1::ExportCaseRequest req;
  req.set_case_id(flags.positional[1]);
  v1::CaseBundle bundle;
  if (auto st = audit->ExportCase(&ctx, req, &bundle); !st.ok()) return Fail(FromGrpcStatus(st));
  const std::string dir = flags.Get("out-dir");
  auto save = [&](const std::string& name, const std::string& bytes) -> absl::Status {
    if (dir.empty()) return absl::OkStatus();
    return cli::WriteFile(absl::StrCat(dir, "/", name), bytes);
  };
  for (const auto& signed_receipt : bundle.receipts()) {
    v1::SubmissionReceipt r;
    if (!r.ParseFromString(signed_receipt.receipt())) return Fail(absl::DataLossError("a receipt does not parse"));
    std::cout << cli::FormatTime(r.gateway_time()) << "  ACCEPTED               envelope " << r.envelope_id() << " from "
              << r.sender_agency() << " -> " << v1::CaseState_Name(r.resulting_state()) << "  (gateway key "
              << signed_receipt.signature().key_id() << ")\n";
    if (auto st = save(absl::StrCat("receipt-", r.audit_index(), ".pb"), signed_receipt.SerializeAsString()); !st.ok()) {
      return Fail(st);
    }
  }
  for (const auto& entry : bundle.audit_entries()) {
    v1::AuditRecord record;
    v1::Evidence e;
    if (!record.ParseFromString(entry.record()) || !record.has_evidence()) continue;
    if (!e.ParseFromString(record.evidence().evidence())) return Fail(absl::DataLossError("an evidence record does not parse"));
    std::cout << cli::FormatTime(e.time()) << "  " << v1::Evidence::Kind_Name(e.kind()) << "  ";
    if (e.kind() == v1::Evidence::DELIVERY_ACKNOWLEDGED) {
      std::cout << e.agency() << " acknowledged envelope " << e.envelope_id() << " from " << e.sender_agency();
    } else {
      std::cout << e.agency() << " retrieved document sha256 " << security::HexEncode(e.document_digest().value());
    }
    std::cout << "  (gateway key " << record.evidence().signature().key_id() << ", audit #" << entry.index() << ")\n";
    if (auto st = save(absl::StrCat("evidence-", entry.index(), ".pb"), record.evidence().SerializeAsString()); !st.ok()) {
      return Fail(st);
    }
  }
  if (!dir.empty()) std::cout << "written to " << dir << "; check each with 'caselinkctl verify FILE --ca ... --gateway-cert ...'\n";
  return 0;
}

int Export(const Flags& flags) {
  if (!flags.Has("data-dir") || !flags.Has("out")) return std::cerr << kUsage, 2;
  auto exported = ExportFromDataDir(flags.Get("data-dir"));
  if (!exported.ok()) return Fail(exported.status());
  if (auto st = cli::WriteFile(flags.Get("out"), exported->SerializeAsString()); !st.ok()) return Fail(st);
  std::cout << "exported " << exported->entries_size() << " entries with the latest signed tree head -> " << flags.Get("out") << "\n";
  return 0;
}

int Verify(const Flags& flags) {
  auto key = GatewayKey(flags);
  if (!key.ok()) return Fail(key.status());
  v1::AuditLogExport exported;
  if (flags.Has("log")) {
    auto bytes = cli::ReadFile(flags.Get("log"));
    if (!bytes.ok()) return Fail(bytes.status());
    if (!exported.ParseFromString(*bytes)) return Fail(absl::InvalidArgumentError("the log file does not parse"));
  } else if (flags.Has("data-dir")) {
    auto e = ExportFromDataDir(flags.Get("data-dir"));
    if (!e.ok()) return Fail(e.status());
    exported = std::move(*e);
  } else {
    return std::cerr << kUsage, 2;
  }
  if (flags.Has("tree-head")) {
    auto bytes = cli::ReadFile(flags.Get("tree-head"));
    if (!bytes.ok()) return Fail(bytes.status());
    if (!exported.mutable_tree_head()->ParseFromString(*bytes)) return Fail(absl::InvalidArgumentError("the tree head file does not parse"));
  }
  AuditVerification result = VerifyAuditLog(exported, **key);
  if (!result.ok) {
    std::cerr << "caselinkctl: audit log verification FAILED: " << result.message << "\n";
    if (result.first_bad_index >= 0) std::cerr << "first bad index: " << result.first_bad_index << "\n";
    return 1;
  }
  std::cout << result.message << "\n";
  return 0;
}

int VerifyBundle(const Flags& flags) {
  if (flags.positional.size() != 2) return std::cerr << kUsage, 2;
  auto key = GatewayKey(flags);
  if (!key.ok()) return Fail(key.status());
  auto bytes = cli::ReadFile(flags.positional[1]);
  if (!bytes.ok()) return Fail(bytes.status());
  v1::CaseBundle bundle;
  if (!bundle.ParseFromString(*bytes)) return Fail(absl::InvalidArgumentError("the bundle file does not parse"));
  std::unique_ptr<security::ChainValidator> ca;
  if (flags.Has("ca")) {
    auto pem = cli::ReadFile(flags.Get("ca"));
    if (!pem.ok()) return Fail(pem.status());
    auto validator = security::ChainValidator::Create(*pem);
    if (!validator.ok()) return Fail(validator.status());
    ca = std::move(*validator);
  }
  if (auto st = VerifyCaseBundle(bundle, **key, ca.get()); !st.ok()) {
    std::cerr << "caselinkctl: bundle verification FAILED: " << st.message() << "\n";
    return 1;
  }
  std::cout << "bundle of case " << bundle.case_id() << " verified: " << bundle.envelopes_size() << " signed envelopes and receipts, "
            << bundle.audit_entries_size() << " audit entries proven in the signed log\n";
  return 0;
}

}  // namespace

int AuditCommand(const Flags& global, const std::vector<std::string>& args) {
  auto flags = cli::ParseFlags(args, {"json"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help || flags->positional.empty()) return std::cout << kUsage, flags->help ? 0 : 2;
  const std::string& sub = flags->positional[0];
  if (sub == "tree-head") return TreeHead(global, *flags);
  if (sub == "consistency") return Consistency(global, *flags);
  if (sub == "query") return Query(global, *flags);
  if (sub == "bundle") return Bundle(global, *flags);
  if (sub == "evidence") return Evidence(global, *flags);
  if (sub == "export") return Export(*flags);
  if (sub == "verify") return Verify(*flags);
  if (sub == "verify-bundle") return VerifyBundle(*flags);
  std::cerr << "unknown audit subcommand '" << sub << "'\n" << kUsage;
  return 2;
}

}  // namespace caselink
