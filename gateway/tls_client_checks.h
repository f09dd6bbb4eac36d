// The per-RPC check of an agency's TLS client certificate: not revoked by the CRLs in
// force, inside its validity period at gateway time, still for clientAuth.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/registry.h"
#include "security/certificate.h"

namespace caselink {

// OK when `cert`, the registered TLS client certificate of `agency`, may be used at
// `at`. UNAUTHENTICATED naming the problem (revoked with its serial, expired,
// not yet valid, ...) and what to do otherwise. Cached per certificate (SigningTrust),
// so the steady state is one map lookup.
absl::Status CheckTlsClientCertificateAt(const AgencyRegistry& registry, absl::string_view agency,
                                         const security::Certificate& cert, absl::Time at);

}  // namespace caselink
