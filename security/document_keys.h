// The recipient keys of each document-encryption suite: which certificate key family and key
// usage a suite needs, and wrappers/unwrappers built from certificates and private keys.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/certificate.h"
#include "security/document_crypto.h"
#include "security/key_wrap.h"

namespace caselink::security {

// "INTL (AES-256-GCM, ECDH P-256)" or "GM (SM4-CTR+HMAC-SM3, SM2)", for messages.
const char* DocumentSuiteName(DocumentSuite suite);
// The key usage a recipient's encryption certificate must state: keyAgreement for the INTL
// suite (ECDH), keyEncipherment for the GM suite (SM2 encryption).
KeyPurpose DocumentKeyPurpose(DocumentSuite suite);

// A wrapper to the public key of `certificate`; INVALID_ARGUMENT naming the key when it is not
// of the suite's family (P-256 for INTL, SM2 for GM).
absl::StatusOr<std::unique_ptr<KeyWrapper>> DocumentKeyWrapper(DocumentSuite suite, const Certificate& certificate);
// The recipient's side, from its PKCS#8 or SEC1 private key PEM.
absl::StatusOr<std::unique_ptr<KeyUnwrapper>> DocumentKeyUnwrapper(DocumentSuite suite,
                                                                   absl::string_view private_key_pem);

}  // namespace caselink::security
