// Signing-key checks with refusals an operator can act on.
#include "gateway/signing_key_checks.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace caselink {
namespace {

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

// The agency's keys usable at `at`, for "sign with a current key".
std::string CurrentKeys(const AgencyRegistry& registry, absl::string_view agency, absl::Time at) {
  const AgencyEntry* entry = registry.Find(agency);
  std::vector<std::string> ids;
  if (entry != nullptr) {
    for (const auto& k : entry->signing_keys) {
      if (at >= k->not_before && at < k->retired_at) ids.push_back(k->key_id);
    }
  }
  if (ids.empty()) return "the registry lists no current key for it; register a new signing key";
  return absl::StrCat("current: ", absl::StrJoin(ids, ", "));
}

}  // namespace

absl::Status UnregisteredKeyRefusal(const AgencyRegistry& registry, absl::string_view sender,
                                    absl::string_view key_id) {
  const AgencyEntry* owner = registry.FindSigningKeyOwner(key_id);
  if (owner != nullptr && owner->agency.id() != sender) {
    return absl::UnauthenticatedError(absl::StrCat("key id '", key_id, "' is not a registered signing key of agency '",
                                                   sender, "': it belongs to agency '", owner->agency.id(),
                                                   "'; an agency signs only with its own keys"));
  }
  return absl::UnauthenticatedError(absl::StrCat("key id '", key_id, "' is not a registered signing key of agency '",
                                                 sender, "'; register it in the registry or sign with a registered key"));
}

absl::Status CheckSigningKeyAt(const AgencyRegistry& registry, absl::string_view agency, const SigningKey& key,
                               absl::Time at) {
  if (at >= key.retired_at) {
    return absl::UnauthenticatedError(absl::StrCat("key ", key.key_id, " of agency ", agency, " was retired at ",
                                                   Rfc3339(key.retired_at), " (gateway time ", Rfc3339(at),
                                                   "); sign with a current key (", CurrentKeys(registry, agency, at),
                                                   ")"));
  }
  if (at < key.not_before) {
    return absl::UnauthenticatedError(absl::StrCat("key ", key.key_id, " of agency ", agency,
                                                   " may sign only from ", Rfc3339(key.not_before), " (gateway time ",
                                                   Rfc3339(at), "); sign with a current key (",
                                                   CurrentKeys(registry, agency, at), ")"));
  }
  if (auto st = registry.ValidateSigningCertificate(*key.certificate, at); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("signing certificate of key '", key.key_id, "' of agency '", agency,
                                                   "' is not valid at gateway time ", Rfc3339(at), ": ", st.message(),
                                                   "; the agency needs a valid signing certificate from the signing CA, "
                                                   "registered under a key id"));
  }
  return absl::OkStatus();
}

}  // namespace caselink
