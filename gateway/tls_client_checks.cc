// TLS client-certificate refusals an operator can act on: the reason comes first, the
// chain validator's detail after it.
#include "gateway/tls_client_checks.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace caselink {
namespace {

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

}  // namespace

absl::Status CheckTlsClientCertificateAt(const AgencyRegistry& registry, absl::string_view agency,
                                         const security::Certificate& cert, absl::Time at) {
  absl::Status st = registry.ValidateTlsCertificate(cert, at);
  if (st.ok()) return st;
  const std::string who = absl::StrCat("TLS client certificate of agency ", agency);
  const std::string remedy =
      "; the agency needs a new TLS client certificate from the TLS client CA, listed in its tls_certificate_files";
  std::string problem;
  if (absl::StrContains(st.message(), "certificate revoked")) {
    problem = absl::StrCat(" is revoked (serial ", cert.SerialHex(), ")");
  } else if (at >= cert.not_after()) {
    problem = absl::StrCat(" expired at ", Rfc3339(cert.not_after()), " (gateway time ", Rfc3339(at), ")");
  } else if (at < cert.not_before()) {
    problem = absl::StrCat(" is not valid before ", Rfc3339(cert.not_before()), " (gateway time ", Rfc3339(at), ")");
  } else {
    problem = absl::StrCat(" is not valid at gateway time ", Rfc3339(at));
  }
  return absl::UnauthenticatedError(absl::StrCat(who, problem, ": ", st.message(), remedy));
}

}  // namespace caselink
