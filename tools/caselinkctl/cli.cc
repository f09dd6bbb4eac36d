// Shared pieces of caselinkctl's commands.
#include "tools/caselinkctl/cli.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace caselink::cli {



absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args, const std::vector<std::string>& switches) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      flags.help = true;
    } else if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      flags.values[name].push_back(value);
    } else {
      flags.positional.push_back(a);
    }
  }
  return flags;
}

int Fail(const absl::Status& status) {
  std::cerr << "caselinkctl: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
  return 1;
}

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t)), absl::UTCTimeZone());
}

absl::StatusOr<std::unique_ptr<AgencyClient>> Connect(const Flags& global) {
  const std::string pki = global.Get("pki", Env("CASELINK_PKI"));
  const std::string agency = global.Get("agency", Env("CASELINK_AGENCY"));
  const std::string gateway = global.Get("gateway", Env("CASELINK_GATEWAY", "127.0.0.1:7443"));
  if (pki.empty()) return absl::InvalidArgumentError("--pki DIR (or CASELINK_PKI) is required");
  if (agency.empty()) return absl::InvalidArgumentError("--agency ID (or CASELINK_AGENCY) is required");
  auto identity = LoadAgencyIdentity(pki, agency);
  if (!identity.ok()) return identity.status();
  return AgencyClient::Create(*identity, gateway);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace caselink::cli
