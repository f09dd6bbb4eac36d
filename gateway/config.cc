// YAML/JSON configuration loading: YAML is converted to JSON and handed to
// protobuf's JSON parser, so the proto schema is the single definition.
#include "gateway/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"

namespace caselink {
namespace {

namespace fs = std::filesystem;

// Emits a YAML node as JSON text. Scalars that look like numbers or booleans
// are emitted bare; protobuf's parser accepts strings for numbers as well, so
// the choice only matters for strings, which stay quoted.
void EmitJson(const YAML::Node& node, std::string& out);

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

bool LooksLikeJsonLiteral(const std::string& s) {
  if (s == "true" || s == "false" || s == "null") return true;
  if (s.empty()) return false;
  size_t i = (s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  bool digits = false;
  for (; i < s.size(); ++i) {
    if (isdigit(static_cast<unsigned char>(s[i]))) {
      digits = true;
    } else if (s[i] != '.' && s[i] != 'e' && s[i] != 'E' && s[i] != '+' && s[i] != '-') {
      return false;
    }
  }
  // Leading zeros (e.g. region "0123") must stay strings.
  return digits && !(s.size() > 1 && s[0] == '0' && s[1] != '.');
}

void EmitJson(const YAML::Node& node, std::string& out) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out += "null";
      break;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      // Quoted YAML scalars have tag "!"; plain ones "?".
      if (node.Tag() != "!" && LooksLikeJsonLiteral(s)) {
        out += s;
      } else {
        out += JsonQuote(s);
      }
      break;
    }
    case YAML::NodeType::Sequence: {
      out += "[";
      bool first = true;
      for (const auto& item : node) {
        if (!first) out += ",";
        first = false;
        EmitJson(item, out);
      }
      out += "]";
      break;
    }
    case YAML::NodeType::Map: {
      out += "{";
      bool first = true;
      for (const auto& kv : node) {
        if (!first) out += ",";
        first = false;
        out += JsonQuote(kv.first.as<std::string>());
        out += ":";
        EmitJson(kv.second, out);
      }
      out += "}";
      break;
    }
  }
}

std::string Resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

}  // namespace

absl::Status ParseYamlOrJson(const std::string& text, google::protobuf::Message& message) {
  std::string json;
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return absl::InvalidArgumentError("top level must be a mapping");
    EmitJson(root, json);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML/JSON: ", e.what()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(std::string(status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return ss.str();
}

absl::StatusOr<v1::GatewayConfig> LoadGatewayConfig(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  v1::GatewayConfig config;
  if (auto s = ParseYamlOrJson(*text, config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", s.message()));
  }
  const fs::path base = fs::absolute(path).parent_path();
  auto fail = [&](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": field '", field, "' ", why));
  };
  if (config.listen_address().empty()) return fail("listen_address", "is required (e.g. 127.0.0.1:7443)");
  if (config.data_dir().empty()) return fail("data_dir", "is required");
  if (config.registry_file().empty()) return fail("registry_file", "is required");
  if (config.tls().server_certificate_file().empty()) return fail("tls.server_certificate_file", "is required");
  if (config.tls().server_private_key_file().empty()) return fail("tls.server_private_key_file", "is required");
  if (config.tls().client_ca_file().empty()) return fail("tls.client_ca_file", "is required");
  if (config.gateway_signing_key().key_id().empty()) return fail("gateway_signing_key.key_id", "is required");
  if (config.gateway_signing_key().private_key_file().empty()) {
    return fail("gateway_signing_key.private_key_file", "is required");
  }
  config.set_data_dir(Resolve(base, config.data_dir()));
  config.set_registry_file(Resolve(base, config.registry_file()));
  auto* tls = config.mutable_tls();
  tls->set_server_certificate_file(Resolve(base, tls->server_certificate_file()));
  tls->set_server_private_key_file(Resolve(base, tls->server_private_key_file()));
  tls->set_client_ca_file(Resolve(base, tls->client_ca_file()));
  auto* key = config.mutable_gateway_signing_key();
  key->set_private_key_file(Resolve(base, key->private_key_file()));
  key->set_certificate_file(Resolve(base, key->certificate_file()));
  config.set_holiday_calendar_file(Resolve(base, config.holiday_calendar_file()));
  for (auto& previous : *config.mutable_previous_gateway_signing_keys()) {
    previous.set_certificate_file(Resolve(base, previous.certificate_file()));
  }
  auto* kafka = config.mutable_kafka();
  kafka->set_ca_file(Resolve(base, kafka->ca_file()));
  kafka->set_client_certificate_file(Resolve(base, kafka->client_certificate_file()));
  kafka->set_client_private_key_file(Resolve(base, kafka->client_private_key_file()));
  if (config.profile() == v1::CRYPTO_PROFILE_UNSPECIFIED) config.set_profile(v1::INTL);
  if (config.envelope_time_window_seconds() == 0) config.set_envelope_time_window_seconds(kDefaultTimeWindowSeconds);
  if (config.max_envelope_bytes() == 0) config.set_max_envelope_bytes(kDefaultMaxEnvelopeBytes);
  if (config.max_document_bytes() == 0) config.set_max_document_bytes(kDefaultMaxDocumentBytes);
  if (config.tree_head_interval_seconds() == 0) config.set_tree_head_interval_seconds(60);
  if (config.crl_check_interval_ms() == 0) config.set_crl_check_interval_ms(1000);
  for (const auto& previous : config.previous_gateway_signing_keys()) {
    if (previous.key_id().empty() || previous.certificate_file().empty()) {
      return fail("previous_gateway_signing_keys", "needs key_id and certificate_file in every entry");
    }
    if (previous.key_id() == config.gateway_signing_key().key_id()) {
      return fail("previous_gateway_signing_keys",
                  absl::StrCat("lists '", previous.key_id(), "', the current gateway_signing_key.key_id"));
    }
  }
  if (config.store().max_batch() == 0) config.mutable_store()->set_max_batch(256);
  const std::string& sync = config.store().synchronous();
  if (sync.empty()) {
    config.mutable_store()->set_synchronous("full");
  } else if (sync != "full" && sync != "normal") {
    return fail("store.synchronous", absl::StrCat("must be \"full\" or \"normal\", got \"", sync, "\""));
  }
  return config;
}

absl::StatusOr<v1::Registry> LoadRegistryFile(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  v1::Registry registry;
  if (auto s = ParseYamlOrJson(*text, registry); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("registry ", path, ": ", s.message()));
  }
  const fs::path base = fs::absolute(path).parent_path();
  registry.set_signing_ca_file(Resolve(base, registry.signing_ca_file()));
  for (auto& f : *registry.mutable_signing_crl_files()) f = Resolve(base, f);
  for (auto& agency : *registry.mutable_agencies()) {
    for (auto& f : *agency.mutable_tls_certificate_files()) f = Resolve(base, f);
    for (auto& k : *agency.mutable_signing_keys()) k.set_certificate_file(Resolve(base, k.certificate_file()));
    for (auto& k : *agency.mutable_encryption_keys()) k.set_certificate_file(Resolve(base, k.certificate_file()));
  }
  return registry;
}

}  // namespace caselink
