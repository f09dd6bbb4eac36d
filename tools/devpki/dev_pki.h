// A development PKI for one region: a CA, the gateway's TLS and signing
// certificates, and four agencies (EPB, PSB, PRO, court) each with a TLS client
// certificate and a signing key, plus a matching registry and gateway config.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace caselink {

struct DevPkiOptions {
  std::string dir;
  std::string region = "510100";
  std::string region_name = "成都市";
  std::string listen_address = "127.0.0.1:7443";
  // Written into gateway.yaml; relative paths are relative to `dir`.
  std::string data_dir = "data";
  absl::Time not_before = absl::Now() - absl::Hours(1);
  absl::Duration validity = absl::Hours(24 * 365);
  // Overwrite an existing PKI in `dir`.
  bool force = false;
};

// Layout under options.dir:
//   ca/ca.crt, ca/ca.key
//   gateway/tls.crt, gateway/tls.key, gateway/signing.crt, gateway/signing.key
//   agencies/<id>/tls.crt, tls.key, signing.crt, signing.key, key_id
//   registry.yaml, gateway.yaml
absl::Status InitDevPki(const DevPkiOptions& options);

// The agency ids InitDevPki creates for a region, EPB first.
std::vector<std::string> DevPkiAgencies(const std::string& region);

}  // namespace caselink
