// The per-request checks of an envelope's signing key: registered to the sender, inside
// its registry validity period, certificate valid (chain, usage, CRLs) at gateway time.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/registry.h"

namespace caselink {

// UNAUTHENTICATED for a key id that `sender` does not have, naming the agency it
// belongs to when it is another agency's key.
absl::Status UnregisteredKeyRefusal(const AgencyRegistry& registry, absl::string_view sender,
                                    absl::string_view key_id);

// OK when `key` of `agency` may sign at `at`: not before its not_before, before its
// retired_at, and its certificate valid at `at`. UNAUTHENTICATED with what to do otherwise.
absl::Status CheckSigningKeyAt(const AgencyRegistry& registry, absl::string_view agency, const SigningKey& key,
                               absl::Time at);

}  // namespace caselink
