// Shared pieces of caselinkctl's commands: flag parsing, errors, output, and
// connecting as an agency.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "tools/client/agency_client.h"

namespace caselink::cli {

struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;
  bool help = false;

  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
  bool Has(const std::string& name) const { return values.contains(name); }
};

// --name value, --name=value, or a bare --switch (from `switches`).
absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args, const std::vector<std::string>& switches);

// Prints "caselinkctl: CODE: message" to stderr and returns the exit code 1.
int Fail(const absl::Status& status);

std::string Env(const char* name, const std::string& fallback = "");
std::string ToJson(const google::protobuf::Message& m);
std::string FormatTime(const google::protobuf::Timestamp& t);

// Connects as the agency named by --agency/--pki/--gateway (or CASELINK_* variables).
absl::StatusOr<std::unique_ptr<AgencyClient>> Connect(const Flags& global);

// Reads and writes whole files (binary).
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::Status WriteFile(const std::string& path, const std::string& bytes);

}  // namespace caselink::cli
