// Confidential documents on the agency side: encrypt a file to the recipients' encryption
// certificates while uploading it, and download or decrypt one into a file. Both directions
// stream in constant memory; decryption writes to a temporary file next to the output and
// renames it only once the whole document authenticated (and matched its DocumentRef).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "caselink/v1/common.pb.h"
#include "tools/client/agency_client.h"

namespace caselink {

// A recipient's own key: the key id it is registered under and its private key PEM.
struct DecryptionKey {
  std::string key_id;
  std::string private_key_pem;
};

// The identity's encryption key, or NOT_FOUND when the PKI folder has none.
absl::StatusOr<DecryptionKey> DecryptionKeyOf(const AgencyIdentity& identity);

// Encrypts `path` to one registered encryption key of each of `recipient_agencies` (fetched with
// GetAgencyCertificates and validated against the identity's CA, key usage and the profile's
// key family) and uploads the ciphertext. The DocumentRef says confidential, the suite, the
// recipient key ids, the ciphertext's size and digest, and the plaintext's size and digest.
absl::StatusOr<v1::DocumentRef> UploadConfidentialFile(AgencyClient& client, const std::string& path, v1::DocumentType type,
                                                       const std::string& title, const std::string& media_type,
                                                       const std::vector<std::string>& recipient_agencies);

// Decrypts the CaseLink encrypted document `in_path` into `out_path`. With `expected` (the
// DocumentRef of the envelope), the plaintext's size and digest must match it. On any failure
// (a tampered chunk, a truncated file, another recipient's key, a digest mismatch) nothing is
// left at `out_path`.
absl::Status DecryptFile(const std::string& in_path, const std::string& out_path, const DecryptionKey& key,
                         const v1::DocumentRef* expected = nullptr);

// Downloads the document `digest` of `case_id` into `out_path` (the ciphertext as stored, or with
// `key` the decrypted plaintext), with the same all-or-nothing rule.
absl::Status DownloadDocument(AgencyClient& client, const std::string& case_id, const v1::Digest& digest,
                              const std::string& out_path, const DecryptionKey* key = nullptr,
                              const v1::DocumentRef* expected = nullptr);

}  // namespace caselink
