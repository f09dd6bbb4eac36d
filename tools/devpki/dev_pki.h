// A development PKI for one region: a CA, the gateway's TLS and signing
// certificates, and four agencies (EPB, PSB, PRO, court) each with a TLS client
// certificate, a signing key and a document-encryption key, plus a matching registry, gateway config and
// holiday calendar.
#pragma once

#include <string>
#include <string_view>
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
  // China's holiday calendar, copied to calendar/cn-holidays.json and named in
  // gateway.yaml. Empty: the calendar built into this program (the project's
  // ops/calendar/cn-holidays.json when it was built).
  std::string calendar_file;
  // More regions that get the same four agencies, e.g. a district whose PSB a
  // case can be referred to.
  std::vector<std::string> additional_regions;
  // "INTL" (P-256 signing keys) or "GM" (SM2 signing keys for agencies and the
  // gateway), written into gateway.yaml as `profile`. TLS keys and the CA stay
  // P-256 under both: the TLS channel uses standard cipher suites.
  std::string profile = "INTL";
};

// Layout under options.dir:
//   ca/ca.crt, ca/ca.key
//   gateway/tls.crt, gateway/tls.key, gateway/signing.crt, gateway/signing.key
//   gateway/kafka.crt, gateway/kafka.key (its TLS client identity towards Kafka brokers)
//   agencies/<id>/tls.crt, tls.key, signing.crt, signing.key, key_id,
//                 encryption.crt, encryption.key, encryption_key_id (document encryption:
//                 P-256 keyAgreement under INTL, SM2 keyEncipherment under GM)
//   calendar/cn-holidays.json
//   registry.yaml, gateway.yaml
absl::Status InitDevPki(const DevPkiOptions& options);

// The agency ids InitDevPki creates for a region, EPB first.
std::vector<std::string> DevPkiAgencies(const std::string& region);

// The holiday calendar compiled into this program (JSON).
std::string_view BuiltInHolidayCalendar();

}  // namespace caselink
