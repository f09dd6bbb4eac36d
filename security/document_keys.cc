// Document-encryption recipient keys per suite.
#include "security/document_keys.h"

#include "absl/strings/str_cat.h"
#include "security/ecdh_p256.h"
#include "security/sm2_encryption.h"

namespace caselink::security {

const char* DocumentSuiteName(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? "GM (SM4-CTR+HMAC-SM3, SM2)" : "INTL (AES-256-GCM, ECDH P-256)";
}

KeyPurpose DocumentKeyPurpose(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? KeyPurpose::kKeyEncipherment : KeyPurpose::kKeyAgreement;
}

absl::StatusOr<std::unique_ptr<KeyWrapper>> DocumentKeyWrapper(DocumentSuite suite, const Certificate& certificate) {
  absl::StatusOr<std::string> pem = certificate.PublicKeyPem();
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::unique_ptr<KeyWrapper>> wrapper;
  if (suite == DocumentSuite::kGm) {
    auto sm2 = Sm2KeyWrapper::Create(*pem);
    if (sm2.ok()) return std::unique_ptr<KeyWrapper>(std::move(*sm2));
    wrapper = sm2.status();
  } else {
    auto ecdh = EcdhP256KeyWrapper::Create(*pem);
    if (ecdh.ok()) return std::unique_ptr<KeyWrapper>(std::move(*ecdh));
    wrapper = ecdh.status();
  }
  return absl::InvalidArgumentError(absl::StrCat("certificate \"", certificate.SubjectCommonName(), "\" cannot receive ",
                                                 DocumentSuiteName(suite), " documents: ", wrapper.status().message()));
}

absl::StatusOr<std::unique_ptr<KeyUnwrapper>> DocumentKeyUnwrapper(DocumentSuite suite, absl::string_view private_key_pem) {
  if (suite == DocumentSuite::kGm) {
    auto sm2 = Sm2KeyUnwrapper::Create(private_key_pem);
    if (!sm2.ok()) return sm2.status();
    return std::unique_ptr<KeyUnwrapper>(std::move(*sm2));
  }
  auto ecdh = EcdhP256KeyUnwrapper::Create(private_key_pem);
  if (!ecdh.ok()) return ecdh.status();
  return std::unique_ptr<KeyUnwrapper>(std::move(*ecdh));
}

}  // namespace caselink::security
