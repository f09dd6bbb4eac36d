// Loading the gateway configuration and agency registry from YAML or JSON files
// into their proto schemas, with errors that name the file and the field.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "caselink/v1/config.pb.h"

namespace caselink {

// Parses YAML (a superset of JSON) into `message` using the proto's JSON field
// names; unknown fields are errors, so a typo never silently falls back to a default.
absl::Status ParseYamlOrJson(const std::string& text, google::protobuf::Message& message);

absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Loads the config, resolves relative paths against the config file's folder,
// fills defaults and validates. The registry is not loaded here.
absl::StatusOr<v1::GatewayConfig> LoadGatewayConfig(const std::string& path);

// Loads the registry and resolves its certificate paths against its folder.
absl::StatusOr<v1::Registry> LoadRegistryFile(const std::string& path);

// The effective values when a field is left at zero.
inline constexpr uint32_t kDefaultTimeWindowSeconds = 300;
inline constexpr uint32_t kDefaultMaxEnvelopeBytes = 1 << 20;
inline constexpr uint64_t kDefaultMaxDocumentBytes = 4ull << 30;

}  // namespace caselink
