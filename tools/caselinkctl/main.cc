// caselinkctl: act as an agency against a CaseLink gateway (submit, watch an
// inbox, show a case), and create a development PKI.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/config.h"
#include "security/digest.h"
#include "tools/client/agency_client.h"
#include "tools/caselinkctl/audit_command.h"
#include "tools/caselinkctl/cli.h"
#include "tools/caselinkctl/document_command.h"
#include "tools/caselinkctl/report_command.h"
#include "tools/caselinkctl/verify_command.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

using cli::Connect;
using cli::Fail;
using cli::Flags;
using cli::FormatTime;
using cli::ParseFlags;
using cli::ToJson;

constexpr char kMainUsage[] =
    "usage: caselinkctl [global flags] COMMAND [flags]\n"
    "\n"
    "Commands:\n"
    "  pki init      create a development PKI, registry and gateway config\n"
    "  submit        sign and submit an action as an agency (transfer, receipt, filing, non-filing)\n"
    "  inbox         receive the agency's deliveries (and acknowledge them)\n"
    "  case show     show a case with its timeline\n"
    "  case list     list the agency's cases\n"
    "  document get  download a case's document (--decrypt for a confidential one)\n"
    "  decrypt       decrypt a downloaded confidential document\n"
    "  audit         tree heads, proofs, queries, log verification and case bundles\n"
    "  report        statistics of a region and period (table, CSV or JSON)\n"
    "  procedure     the procedure table as Markdown\n"
    "  verify        check a signed envelope, receipt or evidence record offline\n"
    "\n"
    "Global flags (or environment variables):\n"
    "  --pki DIR          PKI folder made by 'pki init'        (CASELINK_PKI)\n"
    "  --agency ID        act as this agency, e.g. 510100.epb   (CASELINK_AGENCY)\n"
    "  --gateway H:P      gateway address, default 127.0.0.1:7443 (CASELINK_GATEWAY)\n"
    "\n"
    "Run 'caselinkctl COMMAND --help' for a command's flags.\n";

void PrintReceipt(const v1::SubmitResponse& resp) {
  v1::SubmissionReceipt r;
  r.ParseFromString(resp.receipt().receipt());
  std::cout << (resp.duplicate() ? "already accepted (original receipt)" : "accepted") << ": case " << r.case_id() << " is now "
            << v1::CaseState_Name(r.resulting_state()) << "\n"
            << "  envelope   " << r.envelope_id() << " (sha256 " << security::HexEncode(r.envelope_digest().value()) << ")\n"
            << "  audit      index " << r.audit_index() << ", log size " << r.tree_size() << "\n"
            << "  gateway    " << FormatTime(r.gateway_time()) << ", signed by key " << resp.receipt().signature().key_id() << "\n";
}

// ---- pki init ----

int PkiInit(const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl pki init --dir DIR [--region 510100] [--listen 127.0.0.1:7443] [--data-dir data]\n"
      "                            [--calendar FILE] [--profile intl|gm] [--force]\n"
      "\n"
      "Creates a development CA; the gateway's TLS and signing certificates; an environmental\n"
      "bureau, public security bureau, procuratorate and court for the region, each with a TLS\n"
      "client certificate and a signing key; DIR/registry.yaml and DIR/gateway.yaml; and a copy of\n"
      "China's holiday calendar (FILE, or the one built into caselinkctl) for the deadline rules.\n"
      "--profile gm gives the agencies and the gateway SM2 signing keys and writes `profile: GM`;\n"
      "the CA and the TLS certificates stay P-256 (the TLS channel uses standard suites).\n";
  auto flags = ParseFlags(args, {"force"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help) return std::cout << kUsage, 0;
  DevPkiOptions options;
  options.dir = flags->Get("dir");
  if (options.dir.empty()) return std::cerr << kUsage, 2;
  options.region = flags->Get("region", options.region);
  options.listen_address = flags->Get("listen", options.listen_address);
  options.data_dir = flags->Get("data-dir", options.data_dir);
  options.force = flags->Has("force");
  options.calendar_file = flags->Get("calendar");  // empty: the calendar built into caselinkctl
  options.profile = absl::AsciiStrToUpper(flags->Get("profile", "intl"));
  if (auto st = InitDevPki(options); !st.ok()) return Fail(st);
  std::cout << "dev PKI written to " << options.dir << "\n  gateway config: " << options.dir << "/gateway.yaml\n  agencies:";
  for (const auto& id : DevPkiAgencies(options.region)) std::cout << " " << id;
  std::cout << "\n";
  return 0;
}

// ---- submit ----

absl::StatusOr<v1::DocumentType> ParseDocumentType(const std::string& name) {
  v1::DocumentType type;
  if (!v1::DocumentType_Parse(name, &type) || type == v1::DOCUMENT_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("unknown document type '", name, "' (e.g. TRANSFER_LETTER, INVESTIGATION_REPORT)"));
  }
  return type;
}

std::string MediaTypeFor(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".pdf") return "application/pdf";
  if (ext == ".txt") return "text/plain";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  return "application/octet-stream";
}

// Uploads one document given as TYPE=PATH and adds its reference to the envelope.
absl::Status AttachDocument(AgencyClient& client, const std::string& spec, v1::Envelope& envelope,
                            const DocumentUpload& upload) {
  std::pair<std::string, std::string> kv = absl::StrSplit(spec, absl::MaxSplits('=', 1));
  if (kv.second.empty()) return absl::InvalidArgumentError(absl::StrCat("--doc wants TYPE=PATH, got '", spec, "'"));
  auto type = ParseDocumentType(kv.first);
  if (!type.ok()) return type.status();
  auto ref = UploadDocument(client, upload, kv.second, *type, std::filesystem::path(kv.second).filename().string(),
                            MediaTypeFor(kv.second));
  if (!ref.ok()) return ref.status();
  *envelope.add_documents() = *ref;
  return absl::OkStatus();
}

// A case file: case_id, a `transfer` mapping (caselink.v1.Transfer fields) and
// `documents` (type, title, path, media_type), paths relative to the file.
absl::Status LoadCaseFile(AgencyClient& client, const std::string& path, v1::Envelope& envelope,
                          const DocumentUpload& upload) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  if (root["case_id"]) envelope.set_case_id(root["case_id"].as<std::string>());
  if (root["transfer"]) {
    if (auto st = ParseYamlOrJson(YAML::Dump(root["transfer"]), *envelope.mutable_transfer()); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": transfer: ", st.message()));
    }
  }
  if (root["remarks"]) envelope.set_remarks(root["remarks"].as<std::string>());
  const auto base = std::filesystem::path(path).parent_path();
  for (const auto& doc : root["documents"]) {
    auto type = ParseDocumentType(doc["type"].as<std::string>(""));
    if (!type.ok()) return type.status();
    std::string file = doc["path"].as<std::string>("");
    if (file.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": a document has no path"));
    if (std::filesystem::path(file).is_relative()) file = (base / file).string();
    auto ref = UploadDocument(client, upload, file, *type, doc["title"].as<std::string>(std::filesystem::path(file).filename().string()),
                                 doc["media_type"].as<std::string>(MediaTypeFor(file)));
    if (!ref.ok()) return absl::Status(ref.status().code(), absl::StrCat("uploading ", file, ": ", ref.status().message()));
    *envelope.add_documents() = *ref;
  }
  return absl::OkStatus();
}

int Submit(const Flags& global, const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl submit ACTION [flags]\n"
      "\n"
      "Signs an envelope with the agency's signing key and submits it; prints the gateway's receipt.\n"
      "\n"
      "Actions and their flags:\n"
      "  transfer    --case-file FILE [--case ID] [--doc TYPE=PATH ...]   (environmental bureau)\n"
      "  receipt     --case ID [--envelope ID]                            (public security bureau: 回执)\n"
      "  filing      --case ID [--number N]                               (public security bureau: 立案)\n"
      "  non-filing  --case ID --reason TEXT                              (public security bureau: 不予立案)\n"
      "Common: [--doc TYPE=PATH ...] [--remarks TEXT] [--envelope-id ID] [--json]\n"
      "        [--confidential [--encrypt-to AGENCY,...]]  encrypt the documents end to end: to the\n"
      "        public security bureau and procuratorate of the region for a transfer, to the case's\n"
      "        other parties otherwise, or to the agencies named; the gateway stores only ciphertext\n";
  auto flags = ParseFlags(args, {"json", "confidential"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help || flags->positional.empty()) return std::cout << kUsage, flags->help ? 0 : 2;
  auto client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  const std::string action = flags->positional[0];
  auto upload = DocumentUploadFor(**client, *flags, action, flags->Get("case"));
  if (!upload.ok()) return Fail(upload.status());
  v1::Envelope envelope;
  envelope.set_envelope_id(flags->Get("envelope-id"));
  envelope.set_case_id(flags->Get("case"));
  envelope.set_remarks(flags->Get("remarks"));
  if (action == "transfer") {
    const std::string file = flags->Get("case-file");
    if (file.empty()) return std::cerr << kUsage, 2;
    if (auto st = LoadCaseFile(**client, file, envelope, *upload); !st.ok()) return Fail(st);
    if (flags->Has("case")) envelope.set_case_id(flags->Get("case"));
    envelope.mutable_transfer();
  } else if (action == "receipt") {
    envelope.mutable_receipt()->set_acknowledged_envelope_id(flags->Get("envelope"));
  } else if (action == "filing") {
    envelope.mutable_filing()->set_filing_number(flags->Get("number"));
  } else if (action == "non-filing") {
    if (flags->Get("reason").empty()) return Fail(absl::InvalidArgumentError("non-filing needs --reason"));
    envelope.mutable_non_filing()->set_reason(flags->Get("reason"));
  } else {
    std::cerr << "unknown action '" << action << "'\n" << kUsage;
    return 2;
  }
  if (envelope.case_id().empty()) return Fail(absl::InvalidArgumentError("--case ID (or case_id in the case file) is required"));
  if (flags->Has("doc")) {
    for (const auto& spec : flags->values.at("doc")) {
      if (auto st = AttachDocument(**client, spec, envelope, *upload); !st.ok()) return Fail(st);
    }
  }
  auto resp = (*client)->Submit(envelope);
  if (!resp.ok()) return Fail(resp.status());
  if (flags->Has("json")) {
    v1::SubmissionReceipt r;
    r.ParseFromString(resp->receipt().receipt());
    std::cout << ToJson(r) << "\n";
  } else {
    PrintReceipt(*resp);
  }
  return 0;
}

// ---- inbox ----

int Inbox(const Flags& global, const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl inbox [--after SEQ] [--ack] [--idle-exit SECONDS] [--json]\n"
      "\n"
      "Streams the agency's deliveries: everything not yet acknowledged, then new ones as they\n"
      "come. --ack acknowledges each delivery after printing it. --idle-exit ends the command\n"
      "once no delivery has arrived for SECONDS (default: wait forever).\n";
  auto flags = ParseFlags(args, {"ack", "json"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help) return std::cout << kUsage, 0;
  auto client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  const double idle = std::stod(flags->Get("idle-exit", "0"));
  v1::SubscribeRequest req;
  req.set_after_sequence(std::stoull(flags->Get("after", "0")));
  for (;;) {
    grpc::ClientContext ctx;
    if (idle > 0) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(idle * 1000)));
    auto reader = (*client)->deliveries().Subscribe(&ctx, req);
    v1::Delivery d;
    bool got = false;
    while (reader->Read(&d)) {
      got = true;
      if (flags->Has("json")) {
        std::cout << ToJson(d) << std::endl;
      } else {
        std::cout << "#" << d.sequence() << " " << v1::Delivery::Reason_Name(d.reason()) << ": " << d.action() << " on case "
                  << d.case_id() << " from " << d.sender_agency() << " (case now " << v1::CaseState_Name(d.case_state())
                  << ", envelope " << d.envelope_id() << ")" << std::endl;
      }
      req.set_after_sequence(d.sequence());
      if (flags->Has("ack")) {
        if (auto acked = (*client)->Acknowledge(d.sequence()); !acked.ok()) return Fail(acked.status());
      }
      // Restart the idle timer after each delivery.
      if (idle > 0) break;
    }
    auto st = reader->Finish();
    if (got && idle > 0) continue;
    if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && idle > 0) return 0;
    if (!st.ok()) return Fail(FromGrpcStatus(st));
    return 0;
  }
}

// ---- case ----

int CaseCommand(const Flags& global, const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl case show CASE_ID [--json]\n"
      "       caselinkctl case list [--state STATE] [--page-size N] [--json]\n";
  auto flags = ParseFlags(args, {"json"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help || flags->positional.empty()) return std::cout << kUsage, flags->help ? 0 : 2;
  auto client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  if (flags->positional[0] == "show" && flags->positional.size() == 2) {
    auto resp = (*client)->GetCase(flags->positional[1]);
    if (!resp.ok()) return Fail(resp.status());
    if (flags->Has("json")) return std::cout << ToJson(*resp) << "\n", 0;
    const v1::Case& c = resp->case_();
    std::cout << "case " << c.case_id() << "  " << c.case_name() << "\n"
              << "  track " << v1::Track_Name(c.track()) << ", state " << v1::CaseState_Name(c.state()) << ", version " << c.version()
              << "\n  originator " << c.originator() << ", addressee " << c.addressee() << ", copied";
    for (const auto& id : c.copied()) std::cout << " " << id;
    std::cout << "\ntimeline:\n";
    for (const auto& e : resp->timeline()) {
      std::cout << "  " << e.version() << ". " << FormatTime(e.at()) << "  " << e.actor_agency() << "  " << e.action() << "  "
                << v1::CaseState_Name(e.from_state()) << " -> " << v1::CaseState_Name(e.to_state()) << "  (audit #" << e.audit_index()
                << ", " << e.documents_size() << " documents)\n";
    }
    return 0;
  }
  if (flags->positional[0] == "list") {
    grpc::ClientContext ctx;
    v1::ListCasesRequest req;
    v1::CaseState state = v1::CASE_STATE_UNSPECIFIED;
    if (flags->Has("state") && !v1::CaseState_Parse(flags->Get("state"), &state)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("unknown state '", flags->Get("state"), "'")));
    }
    req.set_state(state);
    req.set_page_size(std::stoul(flags->Get("page-size", "50")));
    v1::ListCasesResponse resp;
    auto st = (*client)->cases().ListCases(&ctx, req, &resp);
    if (!st.ok()) return Fail(FromGrpcStatus(st));
    if (flags->Has("json")) return std::cout << ToJson(resp) << "\n", 0;
    for (const auto& c : resp.cases()) {
      std::cout << c.case_id() << "  " << v1::CaseState_Name(c.state()) << "  " << c.case_name() << "\n";
    }
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}

}  // namespace
}  // namespace caselink

int main(int argc, char** argv) {
  using namespace caselink;
  // Global flags come before the command.
  std::vector<std::string> args(argv + 1, argv + argc);
  Flags global;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") return std::cout << kMainUsage, 0;
    if ((a == "--pki" || a == "--agency" || a == "--gateway") && i + 1 < args.size()) {
      global.values[a.substr(2)].push_back(args[++i]);
    } else {
      break;
    }
  }
  if (i >= args.size()) return std::cerr << kMainUsage, 2;
  const std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if (command == "pki") {
    if (rest.empty() || rest[0] != "init") {
      std::cerr << "usage: caselinkctl pki init --dir DIR [--help]\n";
      return rest.empty() || (rest[0] != "--help" && rest[0] != "-h") ? 2 : 0;
    }
    return PkiInit({rest.begin() + 1, rest.end()});
  }
  if (command == "submit") return Submit(global, rest);
  if (command == "inbox") return Inbox(global, rest);
  if (command == "case") return CaseCommand(global, rest);
  if (command == "document") return DocumentCommand(global, rest);
  if (command == "decrypt") return DecryptCommand(global, rest);
  if (command == "audit") return AuditCommand(global, rest);
  if (command == "report") return ReportCommand(global, rest);
  if (command == "procedure") return ProcedureCommand(rest);
  if (command == "verify") return VerifyCommand(rest);
  std::cerr << "unknown command '" << command << "'\n" << kMainUsage;
  return 2;
}
