// Development PKI generation. Keys are written with mode 0600; production
// deployments use certificates from their own CA instead.
#include "tools/devpki/dev_pki.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "security/pki.h"

namespace caselink {
namespace {

namespace fs = std::filesystem;

absl::Status WriteFile(const fs::path& path, const std::string& content, bool secret) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating ", path.parent_path().string(), ": ", ec.message()));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  out << content;
  out.close();
  if (secret) chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

struct AgencySpec {
  const char* suffix;
  const char* kind;
  const char* name;
};

constexpr AgencySpec kAgencies[] = {
    {"epb", "ENVIRONMENT_BUREAU", "生态环境局"},
    {"psb", "PUBLIC_SECURITY", "公安局"},
    {"pro", "PROCURATORATE", "人民检察院"},
    {"court", "COURT", "中级人民法院"},
};

}  // namespace

std::vector<std::string> DevPkiAgencies(const std::string& region) {
  std::vector<std::string> ids;
  for (const auto& a : kAgencies) ids.push_back(absl::StrCat(region, ".", a.suffix));
  return ids;
}

absl::Status InitDevPki(const DevPkiOptions& options) {
  const fs::path dir(options.dir);
  if (fs::exists(dir / "registry.yaml") && !options.force) {
    return absl::AlreadyExistsError(absl::StrCat("a PKI already exists in ", options.dir, " (use --force to replace it)"));
  }
  if (options.profile != "INTL" && options.profile != "GM") {
    return absl::InvalidArgumentError(absl::StrCat("profile '", options.profile, "' is not INTL or GM"));
  }
  const bool gm = options.profile == "GM";
  const absl::Time not_after = options.not_before + options.validity;
  auto issue = [&](const std::string& cn, security::CertificateProfile profile, const security::KeyPair& key,
                   const std::string& ca_cert, const std::string& ca_key,
                   std::vector<std::string> dns = {}, std::vector<std::string> ips = {}) {
    security::CertificateRequest req;
    req.common_name = cn;
    req.organization = "CaseLink development PKI";
    req.public_key_pem = key.public_key_pem;
    req.profile = profile;
    req.dns_names = std::move(dns);
    req.ip_addresses = std::move(ips);
    req.not_before = options.not_before;
    req.not_after = not_after;
    return security::IssueCertificate(req, ca_cert, ca_key);
  };

  auto ca_key = security::GenerateEcP256KeyPair();
  if (!ca_key.ok()) return ca_key.status();
  auto ca_cert = issue(absl::StrCat("CaseLink Dev CA ", options.region), security::CertificateProfile::kCa, *ca_key, "",
                       ca_key->private_key_pem);
  if (!ca_cert.ok()) return ca_cert.status();
  if (auto s = WriteFile(dir / "ca/ca.crt", *ca_cert, false); !s.ok()) return s;
  if (auto s = WriteFile(dir / "ca/ca.key", ca_key->private_key_pem, true); !s.ok()) return s;

  // Writes <sub>/tls.* and <sub>/signing.* for one identity.
  auto identity = [&](const fs::path& sub, const std::string& cn, security::CertificateProfile tls_profile,
                      std::vector<std::string> dns, std::vector<std::string> ips) -> absl::Status {
    auto tls_key = security::GenerateEcP256KeyPair();
    if (!tls_key.ok()) return tls_key.status();
    auto tls_cert = issue(cn, tls_profile, *tls_key, *ca_cert, ca_key->private_key_pem, dns, ips);
    if (!tls_cert.ok()) return tls_cert.status();
    auto sign_key = gm ? security::GenerateSm2KeyPair() : security::GenerateEcP256KeyPair();
    if (!sign_key.ok()) return sign_key.status();
    auto sign_cert = issue(absl::StrCat(cn, " signing"), security::CertificateProfile::kSigning, *sign_key, *ca_cert,
                           ca_key->private_key_pem);
    if (!sign_cert.ok()) return sign_cert.status();
    for (auto [name, content, secret] : {std::tuple{"tls.crt", &*tls_cert, false}, std::tuple{"tls.key", &tls_key->private_key_pem, true},
                                         std::tuple{"signing.crt", &*sign_cert, false},
                                         std::tuple{"signing.key", &sign_key->private_key_pem, true}}) {
      if (auto s = WriteFile(dir / sub / name, *content, secret); !s.ok()) return s;
    }
    return absl::OkStatus();
  };

  if (auto s = identity("gateway", "caselink-gateway", security::CertificateProfile::kTlsServer, {"localhost"},
                        {"127.0.0.1", "::1"});
      !s.ok()) {
    return s;
  }
  // The gateway is a TLS client of the Kafka brokers: its own clientAuth certificate, whose
  // CN the brokers map to the principal User:caselink-gateway.
  {
    auto kafka_key = security::GenerateEcP256KeyPair();
    if (!kafka_key.ok()) return kafka_key.status();
    auto kafka_cert = issue("caselink-gateway", security::CertificateProfile::kTlsClient, *kafka_key, *ca_cert,
                            ca_key->private_key_pem);
    if (!kafka_cert.ok()) return kafka_cert.status();
    if (auto s = WriteFile(dir / "gateway/kafka.crt", *kafka_cert, false); !s.ok()) return s;
    if (auto s = WriteFile(dir / "gateway/kafka.key", kafka_key->private_key_pem, true); !s.ok()) return s;
  }
  std::string registry = absl::StrCat(
      "# Agency registry for the development PKI of region ", options.region, ".\n"
      "version: 1\n"
      "signing_ca_file: ca/ca.crt\n"
      "agencies:\n");
  std::vector<std::pair<std::string, std::string>> regions = {{options.region, options.region_name}};
  for (const auto& extra : options.additional_regions) regions.emplace_back(extra, extra);
  for (const auto& [region, region_name] : regions) {
    for (const auto& a : kAgencies) {
      const std::string id = absl::StrCat(region, ".", a.suffix);
      const std::string key_id = absl::StrCat(id, "/signing-1");
      if (auto s = identity(fs::path("agencies") / id, id, security::CertificateProfile::kTlsClient, {}, {}); !s.ok()) return s;
      if (auto s = WriteFile(dir / "agencies" / id / "key_id", key_id + "\n", false); !s.ok()) return s;
      // The key senders encrypt confidential documents to: ECDH P-256 (keyAgreement) under INTL,
      // SM2 encryption (keyEncipherment) under GM.
      const std::string encryption_key_id = absl::StrCat(id, "/encryption-1");
      auto enc_key = gm ? security::GenerateSm2KeyPair() : security::GenerateEcP256KeyPair();
      if (!enc_key.ok()) return enc_key.status();
      auto enc_cert = issue(absl::StrCat(id, " encryption"),
                            gm ? security::CertificateProfile::kKeyEncipherment : security::CertificateProfile::kKeyAgreement,
                            *enc_key, *ca_cert, ca_key->private_key_pem);
      if (!enc_cert.ok()) return enc_cert.status();
      if (auto s = WriteFile(dir / "agencies" / id / "encryption.crt", *enc_cert, false); !s.ok()) return s;
      if (auto s = WriteFile(dir / "agencies" / id / "encryption.key", enc_key->private_key_pem, true); !s.ok()) return s;
      if (auto s = WriteFile(dir / "agencies" / id / "encryption_key_id", encryption_key_id + "\n", false); !s.ok()) return s;
      absl::StrAppend(&registry, "  - id: \"", id, "\"\n", "    kind: ", a.kind, "\n", "    region: \"", region, "\"\n",
                      "    level: CITY\n", "    name: \"", region_name, a.name, "\"\n",
                      "    tls_certificate_files: [\"agencies/", id, "/tls.crt\"]\n", "    signing_keys:\n",
                      "      - key_id: \"", key_id, "\"\n", "        certificate_file: \"agencies/", id, "/signing.crt\"\n",
                      "    encryption_keys:\n", "      - key_id: \"", encryption_key_id, "\"\n",
                      "        certificate_file: \"agencies/", id, "/encryption.crt\"\n");
    }
  }
  if (auto s = WriteFile(dir / "registry.yaml", registry, false); !s.ok()) return s;
  // The gateway counts statutory periods on this calendar; a copy in the PKI
  // folder keeps the config valid wherever the sources are.
  std::string calendar(BuiltInHolidayCalendar());
  if (!options.calendar_file.empty()) {
    std::ifstream in(options.calendar_file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read the holiday calendar ", options.calendar_file));
    calendar.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (auto s = WriteFile(dir / "calendar/cn-holidays.json", calendar, false); !s.ok()) return s;
  const std::string config = absl::StrCat(
      "# CaseLink gateway configuration (schema: caselink.v1.GatewayConfig).\n"
      "listen_address: \"", options.listen_address, "\"\n",
      "data_dir: \"", options.data_dir, "\"\n",
      "registry_file: registry.yaml\n"
      "profile: ", options.profile, "\n"
      "tls:\n"
      "  server_certificate_file: gateway/tls.crt\n"
      "  server_private_key_file: gateway/tls.key\n"
      "  client_ca_file: ca/ca.crt\n"
      "gateway_signing_key:\n"
      "  key_id: \"gateway/signing-1\"\n"
      "  private_key_file: gateway/signing.key\n"
      "  certificate_file: gateway/signing.crt\n"
      "envelope_time_window_seconds: 300\n"
      "holiday_calendar_file: calendar/cn-holidays.json\n");
  return WriteFile(dir / "gateway.yaml", config, false);
}

}  // namespace caselink
