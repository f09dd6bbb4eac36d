// X.509 parsing, fingerprints and chain validation over OpenSSL's X509_STORE, with
// errors that tell an operator which certificate failed and why.
#include "security/certificate.h"

#include <algorithm>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"
#include "security/openssl_util.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

constexpr size_t kPemLineLength = 64;
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%SZ";

using internal::BioPtr;
using internal::OpenSslBytesPtr;
using internal::OpenSslErrors;
using internal::ReadOnlyBio;
using internal::RefusePassphrase;
using internal::X509Ptr;

struct X509StoreDeleter {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter>;

absl::StatusOr<std::string> DerOf(X509* x509) {
  unsigned char* raw = nullptr;
  int size = i2d_X509(x509, &raw);
  OpenSslBytesPtr der(raw);
  if (size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot DER-encode certificate: ", OpenSslErrors()));
  }
  return std::string(reinterpret_cast<const char*>(der.get()), static_cast<size_t>(size));
}

std::string CommonNameOf(X509* x509) {
  X509_NAME* subject = X509_get_subject_name(x509);
  if (subject == nullptr) return "";
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, data);
  OpenSslBytesPtr owned(utf8);
  if (size < 0) {
    ERR_clear_error();
    return "";
  }
  return std::string(reinterpret_cast<const char*>(owned.get()), static_cast<size_t>(size));
}

// A time OpenSSL cannot convert would only come from a certificate it already
// rejected; `fallback` is chosen by the caller to fail closed.
absl::Time ToAbslTime(const ASN1_TIME* time, absl::Time fallback) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return fallback;
  }
  return absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                           tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
}

// RFC 2253 form, so an operator can match it against the anchors they configured;
// `unprintable` stands in for a name OpenSSL cannot print.
std::string NameOf(const X509_NAME* name, absl::string_view unprintable = "unknown name") {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return std::string(unprintable);
  }
  return internal::BioContents(bio.get());
}

std::string IssuerDistinguishedName(X509* x509) { return NameOf(X509_get_issuer_name(x509), "unknown issuer"); }

std::string FormatUtc(absl::Time t) { return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone()); }

std::string Describe(X509* x509) {
  std::string cn = CommonNameOf(x509);
  return cn.empty() ? std::string("certificate without common name") : absl::StrCat("certificate '", cn, "'");
}

// The certificate's public key, owned by the certificate.
absl::StatusOr<EVP_PKEY*> PublicKeyOf(X509* x509) {
  EVP_PKEY* pkey = X509_get0_pubkey(x509);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(x509), " has an undecodable public key: ", OpenSslErrors()));
  }
  return pkey;
}

// After a failed PEM read from a bundle: true (and the error cleared) when the read failed
// only because no further block starts. Running out of PEM blocks is how a bundle normally
// ends; anything else is a damaged block the operator has to fix.
bool ReachedEndOfPem() {
  unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return true;
  }
  return false;
}

// OpenSSL 3 verifies an SM2 signature on a certificate with the certificate's
// distinguishing id, and with an empty id when none is attached; GM/T 0015 certificates are
// signed with the default id, so it is attached to every SM2-signed certificate we parse.
void AttachSm2DistinguishingId(X509* x509) {
  if (X509_get_signature_nid(x509) != NID_SM2_with_SM3) return;
  ASN1_OCTET_STRING* id = ASN1_OCTET_STRING_new();
  if (id == nullptr || ASN1_OCTET_STRING_set(id, reinterpret_cast<const unsigned char*>(kSm2DefaultUserId),
                                             static_cast<int>(sizeof(kSm2DefaultUserId) - 1)) != 1) {
    // Without the id the signature check fails, which is the safe direction.
    ASN1_OCTET_STRING_free(id);
    ERR_clear_error();
    return;
  }
  X509_set0_distinguishing_id(x509, id);
}

// OpenSSL's TLS purposes accept a certificate with no extendedKeyUsage at all;
// CaseLink requires the usage to be stated so a signing certificate cannot log in.
absl::Status CheckExtendedKeyUsage(X509* x509, uint32_t required, absl::string_view usage_name,
                                   absl::string_view purpose_name) {
  uint32_t flags = X509_get_extension_flags(x509);
  if ((flags & EXFLAG_XKUSAGE) == 0) {
    return absl::UnauthenticatedError(absl::StrCat(Describe(x509), " is not valid for ", purpose_name,
                                                   ": it has no extendedKeyUsage; ", usage_name,
                                                   " is required"));
  }
  if ((X509_get_extended_key_usage(x509) & required) == 0) {
    return absl::UnauthenticatedError(absl::StrCat(Describe(x509), " is not valid for ", purpose_name,
                                                   ": its extendedKeyUsage does not include ", usage_name));
  }
  return absl::OkStatus();
}

absl::Status CheckPurpose(X509* x509, KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kAny:
      return absl::OkStatus();
    case KeyPurpose::kTlsClient:
      return CheckExtendedKeyUsage(x509, XKU_SSL_CLIENT, "clientAuth", "TLS client authentication");
    case KeyPurpose::kTlsServer:
      return CheckExtendedKeyUsage(x509, XKU_SSL_SERVER, "serverAuth", "TLS server authentication");
    case KeyPurpose::kSigning: {
      uint32_t flags = X509_get_extension_flags(x509);
      if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(x509) & KU_DIGITAL_SIGNATURE) == 0) {
        return absl::UnauthenticatedError(absl::StrCat(
            Describe(x509), " is not valid for signing: its keyUsage does not include digitalSignature"));
      }
      return absl::OkStatus();
    }
    case KeyPurpose::kKeyAgreement:
    case KeyPurpose::kKeyEncipherment: {
      const bool agreement = purpose == KeyPurpose::kKeyAgreement;
      const uint32_t bit = agreement ? KU_KEY_AGREEMENT : KU_KEY_ENCIPHERMENT;
      if ((X509_get_extension_flags(x509) & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(x509) & bit) == 0) {
        return absl::UnauthenticatedError(absl::StrCat(Describe(x509), " is not valid for document encryption: its keyUsage does not include ",
                                                       agreement ? "keyAgreement" : "keyEncipherment"));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown key purpose");
}

}  // namespace

struct Certificate::Impl {
  X509Ptr x509;
};

Certificate::Certificate(std::unique_ptr<Impl> impl, std::string der)
    : impl_(std::move(impl)), der_(std::move(der)) {
  AttachSm2DistinguishingId(impl_->x509.get());
}

Certificate::~Certificate() = default;

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromPem(absl::string_view pem) {
  absl::StatusOr<X509Ptr> x509 = internal::ParseCertificatePem(pem, "text");
  if (!x509.ok()) return x509.status();
  absl::StatusOr<std::string> der = DerOf(x509->get());
  if (!der.ok()) return der.status();
  auto impl = std::make_unique<Impl>();
  impl->x509 = *std::move(x509);
  return std::unique_ptr<Certificate>(new Certificate(std::move(impl), *std::move(der)));
}

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromDer(absl::string_view der) {
  const unsigned char* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bytes are not a DER certificate: ", OpenSslErrors()));
  }
  if (p != begin + der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate DER has ", (begin + der.size()) - p, " trailing bytes"));
  }
  auto impl = std::make_unique<Impl>();
  impl->x509 = std::move(x509);
  return std::unique_ptr<Certificate>(new Certificate(std::move(impl), std::string(der)));
}

absl::StatusOr<std::vector<std::unique_ptr<Certificate>>> Certificate::BundleFromPem(absl::string_view pem) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  ERR_clear_error();
  std::vector<std::unique_ptr<Certificate>> certificates;
  while (true) {
    X509Ptr x509(PEM_read_bio_X509(bio->get(), nullptr, RefusePassphrase, nullptr));
    if (x509 == nullptr) {
      if (ReachedEndOfPem()) break;
      return absl::InvalidArgumentError(absl::StrCat("certificate #", certificates.size() + 1,
                                                     " in the PEM bundle is malformed: ", OpenSslErrors()));
    }
    absl::StatusOr<std::string> der = DerOf(x509.get());
    if (!der.ok()) return der.status();
    auto impl = std::make_unique<Impl>();
    impl->x509 = std::move(x509);
    certificates.push_back(std::unique_ptr<Certificate>(new Certificate(std::move(impl), *std::move(der))));
  }
  if (certificates.empty()) {
    return absl::InvalidArgumentError(
        "PEM bundle contains no certificate (expected \"BEGIN CERTIFICATE\" blocks)");
  }
  return certificates;
}

std::string Certificate::Pem() const {
  // Built from the DER we already hold, so this cannot fail.
  std::string base64 = absl::Base64Escape(der_);
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < base64.size(); i += kPemLineLength) {
    absl::StrAppend(&pem, base64.substr(i, kPemLineLength), "\n");
  }
  absl::StrAppend(&pem, "-----END CERTIFICATE-----\n");
  return pem;
}

std::string Certificate::Sha256Fingerprint() const { return HexEncode(Sha256(der_)); }

std::string Certificate::SubjectCommonName() const { return CommonNameOf(impl_->x509.get()); }

absl::Time Certificate::not_before() const {
  return ToAbslTime(X509_get0_notBefore(impl_->x509.get()), absl::InfiniteFuture());
}

absl::Time Certificate::not_after() const {
  return ToAbslTime(X509_get0_notAfter(impl_->x509.get()), absl::InfinitePast());
}

std::string Certificate::SerialHex() const {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(impl_->x509.get());
  internal::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) {
    ERR_clear_error();
    return "";
  }
  if (BN_is_zero(bn.get())) return "0";
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    ERR_clear_error();
    return "";
  }
  std::string out(hex);
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c; });
  // BN_bn2hex pads to whole bytes; the canonical form has no leading zero digit.
  const bool negative = !out.empty() && out[0] == '-';
  const size_t digits = negative ? 1 : 0;
  while (out.size() > digits + 1 && out[digits] == '0') out.erase(digits, 1);
  return out;
}

absl::StatusOr<std::string> Certificate::PublicKeyPem() const {
  absl::StatusOr<EVP_PKEY*> pkey = PublicKeyOf(impl_->x509.get());
  if (!pkey.ok()) return pkey.status();
  return internal::PublicKeyPem(*pkey);
}

absl::StatusOr<std::string> Certificate::PublicKeyDer() const {
  absl::StatusOr<EVP_PKEY*> pkey = PublicKeyOf(impl_->x509.get());
  if (!pkey.ok()) return pkey.status();
  return internal::PublicKeyDer(*pkey);
}

absl::StatusOr<std::unique_ptr<Verifier>> Certificate::PublicKeyVerifier() const {
  absl::StatusOr<EVP_PKEY*> pkey = PublicKeyOf(impl_->x509.get());
  if (!pkey.ok()) return pkey.status();
  if (internal::KindOf(*pkey) != internal::KeyKind::kP256) {
    return absl::UnimplementedError(
        absl::StrCat(Describe(impl_->x509.get()), " has a ", internal::KeyDescription(*pkey),
                     " public key; only EC P-256 keys are supported here (CreateVerifierFromCertificate also "
                     "handles Ed25519 and SM2)"));
  }
  absl::StatusOr<std::string> spki = internal::PublicKeyDer(*pkey);
  if (!spki.ok()) {
    return absl::InternalError(absl::StrCat("cannot encode the public key of ", Describe(impl_->x509.get()),
                                            ": ", spki.status().message()));
  }
  absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> verifier = EcdsaP256Verifier::CreateFromPublicKeyDer(*spki);
  if (!verifier.ok()) return verifier.status();
  return std::unique_ptr<Verifier>(*std::move(verifier));
}

namespace {

// The CRLs of a validator, and those that are SM2-signed and were verified here with the
// default user id (OpenSSL 3 checks CRL signatures with an empty SM2 id and would refuse them).
struct CrlState {
  std::vector<internal::X509CrlPtr> crls;
  std::vector<const X509_CRL*> sm2_verified;
};

struct AnchorStore {
  std::vector<std::unique_ptr<Certificate>> anchors;
  X509StorePtr store;
};

absl::StatusOr<AnchorStore> BuildAnchorStore(absl::string_view anchors_pem) {
  absl::StatusOr<std::vector<std::unique_ptr<Certificate>>> anchors = Certificate::BundleFromPem(anchors_pem);
  if (!anchors.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("trust anchors: ", anchors.status().message()));
  }
  X509StorePtr store(X509_STORE_new());
  if (store == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate an X509_STORE: ", OpenSslErrors()));
  }
  for (const std::unique_ptr<Certificate>& anchor : *anchors) {
    X509* x509 = anchor->impl().x509.get();
    if (X509_check_ca(x509) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust anchor ", Describe(x509), " is not a CA certificate (basicConstraints CA:TRUE missing)"));
    }
    if (X509_STORE_add_cert(store.get(), x509) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot add trust anchor ", Describe(x509), ": ", OpenSslErrors()));
    }
  }
  AnchorStore out;
  out.anchors = *std::move(anchors);
  out.store = std::move(store);
  return out;
}

absl::StatusOr<std::vector<internal::X509CrlPtr>> ParseCrls(absl::string_view pem) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  ERR_clear_error();
  std::vector<internal::X509CrlPtr> crls;
  while (true) {
    internal::X509CrlPtr crl(PEM_read_bio_X509_CRL(bio->get(), nullptr, RefusePassphrase, nullptr));
    if (crl == nullptr) {
      if (ReachedEndOfPem()) break;
      return absl::InvalidArgumentError(
          absl::StrCat("CRL #", crls.size() + 1, " in the PEM bundle is malformed: ", OpenSslErrors()));
    }
    crls.push_back(std::move(crl));
  }
  if (crls.empty()) {
    return absl::InvalidArgumentError(
        "CRL bundle contains no CRL (expected \"BEGIN X509 CRL\" blocks); pass no CRLs to disable revocation "
        "checking");
  }
  return crls;
}

// The exact to-be-signed bytes of a CRL, cut from its DER rather than re-encoded.
absl::StatusOr<std::string> CrlTbs(X509_CRL* crl) {
  unsigned char* raw = nullptr;
  int size = i2d_X509_CRL(crl, &raw);
  OpenSslBytesPtr der(raw);
  if (size <= 0) return absl::InvalidArgumentError(absl::StrCat("cannot encode the CRL: ", OpenSslErrors()));
  const unsigned char* p = der.get();
  long length = 0;
  int tag = 0;
  int cls = 0;
  if (ASN1_get_object(&p, &length, &tag, &cls, size) & 0x80) {
    return absl::InvalidArgumentError("CRL is not a DER SEQUENCE");
  }
  const unsigned char* tbs_start = p;
  const long remaining = size - (p - der.get());
  if (ASN1_get_object(&p, &length, &tag, &cls, remaining) & 0x80 || (p - tbs_start) + length > remaining) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CRL has a malformed tbsCertList");
  }
  return std::string(reinterpret_cast<const char*>(tbs_start), static_cast<size_t>((p - tbs_start) + length));
}

// Checks the CRL's signature against the anchors named as its issuer. Sets *sm2 when it is
// an SM2 signature verified here with the default user id.
absl::Status VerifyCrlSignature(X509_CRL* crl, const std::vector<std::unique_ptr<Certificate>>& anchors,
                                bool* sm2) {
  const X509_NAME* issuer = X509_CRL_get_issuer(crl);
  bool issuer_found = false;
  for (const std::unique_ptr<Certificate>& anchor : anchors) {
    X509* x509 = anchor->impl().x509.get();
    if (X509_NAME_cmp(X509_get_subject_name(x509), issuer) != 0) continue;
    issuer_found = true;
    EVP_PKEY* key = X509_get0_pubkey(x509);
    if (key == nullptr) continue;
    if (X509_CRL_get_signature_nid(crl) == NID_SM2_with_SM3) {
      if (internal::KindOf(key) != internal::KeyKind::kSm2) continue;
      absl::StatusOr<std::string> spki = internal::PublicKeyDer(key);
      if (!spki.ok()) continue;
      absl::StatusOr<std::unique_ptr<Sm2Verifier>> verifier = Sm2Verifier::CreateFromPublicKeyDer(*spki);
      absl::StatusOr<std::string> tbs = CrlTbs(crl);
      if (!verifier.ok() || !tbs.ok()) continue;
      const ASN1_BIT_STRING* signature = nullptr;
      const X509_ALGOR* algorithm = nullptr;
      X509_CRL_get0_signature(crl, &signature, &algorithm);
      absl::string_view sig_bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(signature)),
                                  static_cast<size_t>(ASN1_STRING_length(signature)));
      if ((*verifier)->Verify(sig_bytes, *tbs).ok()) {
        *sm2 = true;
        return absl::OkStatus();
      }
    } else if (X509_CRL_verify(crl, key) == 1) {
      return absl::OkStatus();
    }
    ERR_clear_error();
  }
  if (!issuer_found) {
    return absl::InvalidArgumentError(absl::StrCat("CRL issued by \"", NameOf(issuer),
                                                   "\" matches no configured trust anchor; configure its CA "
                                                   "as an anchor or drop the CRL"));
  }
  return absl::InvalidArgumentError(absl::StrCat("CRL issued by \"", NameOf(issuer),
                                                 "\" has a signature that does not verify with that trust "
                                                 "anchor's key; it is corrupt or forged"));
}

// Accepts OpenSSL's CRL signature failure only for SM2 CRLs verified at construction.
int CrlAwareVerifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok == 1 || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_CRL_SIGNATURE_FAILURE) return ok;
  const auto* state = static_cast<const CrlState*>(X509_STORE_CTX_get_app_data(ctx));
  const X509_CRL* crl = X509_STORE_CTX_get0_current_crl(ctx);
  if (state != nullptr && crl != nullptr &&
      std::find(state->sm2_verified.begin(), state->sm2_verified.end(), crl) != state->sm2_verified.end()) {
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return 1;
  }
  return ok;
}

}  // namespace

struct ChainValidator::Impl {
  std::vector<std::unique_ptr<Certificate>> anchors;
  X509StorePtr store;
  std::unique_ptr<CrlState> crls;  // null: revocation is not checked
};

ChainValidator::ChainValidator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChainValidator::~ChainValidator() = default;

absl::StatusOr<std::unique_ptr<ChainValidator>> ChainValidator::Create(absl::string_view anchors_pem) {
  absl::StatusOr<AnchorStore> built = BuildAnchorStore(anchors_pem);
  if (!built.ok()) return built.status();
  // The configured anchors are trusted as given, even when one is an intermediate
  // rather than a self-signed root; otherwise pinning an agency's issuing CA fails.
  if (X509_STORE_set_flags(built->store.get(), X509_V_FLAG_PARTIAL_CHAIN) != 1) {
    return absl::InternalError(absl::StrCat("cannot configure the X509_STORE: ", OpenSslErrors()));
  }
  auto impl = std::make_unique<Impl>();
  impl->anchors = std::move(built->anchors);
  impl->store = std::move(built->store);
  return std::unique_ptr<ChainValidator>(new ChainValidator(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<ChainValidator>> ChainValidator::Create(absl::string_view anchors_pem,
                                                                       absl::string_view crls_pem) {
  absl::StatusOr<AnchorStore> built = BuildAnchorStore(anchors_pem);
  if (!built.ok()) return built.status();
  absl::StatusOr<std::vector<internal::X509CrlPtr>> crls = ParseCrls(crls_pem);
  if (!crls.ok()) return crls.status();
  auto state = std::make_unique<CrlState>();
  for (internal::X509CrlPtr& crl : *crls) {
    bool sm2 = false;
    if (absl::Status s = VerifyCrlSignature(crl.get(), built->anchors, &sm2); !s.ok()) return s;
    if (X509_STORE_add_crl(built->store.get(), crl.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("cannot add the CRL of \"", NameOf(X509_CRL_get_issuer(crl.get())),
                                                     "\": ", OpenSslErrors()));
    }
    if (sm2) state->sm2_verified.push_back(crl.get());
    state->crls.push_back(std::move(crl));
  }
  // CRL_CHECK: the leaf's issuer must have a current CRL here that does not list the leaf.
  if (X509_STORE_set_flags(built->store.get(), X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_CRL_CHECK) != 1) {
    return absl::InternalError(absl::StrCat("cannot configure the X509_STORE: ", OpenSslErrors()));
  }
  auto impl = std::make_unique<Impl>();
  impl->anchors = std::move(built->anchors);
  impl->store = std::move(built->store);
  impl->crls = std::move(state);
  return std::unique_ptr<ChainValidator>(new ChainValidator(std::move(impl)));
}

absl::StatusOr<std::vector<CrlInfo>> InspectCrls(absl::string_view crls_pem) {
  absl::StatusOr<std::vector<internal::X509CrlPtr>> crls = ParseCrls(crls_pem);
  if (!crls.ok()) return crls.status();
  std::vector<CrlInfo> out;
  for (const internal::X509CrlPtr& crl : *crls) {
    CrlInfo info;
    info.issuer = NameOf(X509_CRL_get_issuer(crl.get()), "unknown issuer");
    info.this_update = ToAbslTime(X509_CRL_get0_lastUpdate(crl.get()), absl::InfinitePast());
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
    info.next_update = next == nullptr ? absl::InfiniteFuture() : ToAbslTime(next, absl::InfinitePast());
    const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    info.revoked_count = revoked == nullptr ? 0 : static_cast<size_t>(sk_X509_REVOKED_num(revoked));
    int critical = 0;
    std::unique_ptr<ASN1_INTEGER, decltype(&ASN1_INTEGER_free)> number(
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &critical, nullptr)),
        ASN1_INTEGER_free);
    if (number != nullptr) {
      std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(ASN1_INTEGER_to_BN(number.get(), nullptr), BN_free);
      if (bn != nullptr) {
        char* hex = BN_bn2hex(bn.get());
        if (hex != nullptr) {
          info.number = absl::AsciiStrToLower(hex);
          OPENSSL_free(hex);
        }
      }
    }
    out.push_back(std::move(info));
  }
  ERR_clear_error();
  return out;
}

absl::Status ChainValidator::Validate(const Certificate& leaf, absl::Time at, KeyPurpose purpose) const {
  X509* x509 = leaf.impl().x509.get();
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate an X509_STORE_CTX: ", OpenSslErrors()));
  }
  if (X509_STORE_CTX_init(ctx.get(), impl_->store.get(), x509, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot initialise chain validation: ", OpenSslErrors()));
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), absl::ToTimeT(at));
  if (impl_->crls != nullptr) {
    X509_STORE_CTX_set_app_data(ctx.get(), impl_->crls.get());
    X509_STORE_CTX_set_verify_cb(ctx.get(), CrlAwareVerifyCallback);
  }
  // The TLS purposes also make OpenSSL check that every CA on the path may issue for them.
  int openssl_purpose = 0;
  if (purpose == KeyPurpose::kTlsClient) openssl_purpose = X509_PURPOSE_SSL_CLIENT;
  if (purpose == KeyPurpose::kTlsServer) openssl_purpose = X509_PURPOSE_SSL_SERVER;
  if (openssl_purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), openssl_purpose) != 1) {
    return absl::InternalError(absl::StrCat("cannot set the validation purpose: ", OpenSslErrors()));
  }

  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* failing = X509_STORE_CTX_get_current_cert(ctx.get());
    if (failing == nullptr) failing = x509;
    std::string reason = X509_verify_cert_error_string(error);
    if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
      absl::StrAppend(&reason, " (notAfter ",
                      FormatUtc(ToAbslTime(X509_get0_notAfter(failing), absl::InfinitePast())),
                      ", checked at ", FormatUtc(at), ")");
    } else if (error == X509_V_ERR_CERT_NOT_YET_VALID) {
      absl::StrAppend(&reason, " (notBefore ",
                      FormatUtc(ToAbslTime(X509_get0_notBefore(failing), absl::InfiniteFuture())),
                      ", checked at ", FormatUtc(at), ")");
    } else if (error == X509_V_ERR_CERT_REVOKED) {
      absl::StrAppend(&reason, ": serial ", leaf.SerialHex(), " is listed as revoked on the CRL of \"",
                      IssuerDistinguishedName(failing), "\"");
    } else if (error == X509_V_ERR_UNABLE_TO_GET_CRL) {
      absl::StrAppend(&reason, " (no CRL of issuer \"", IssuerDistinguishedName(failing),
                      "\" is configured; with CRLs configured, every issuer needs one)");
    } else if (error == X509_V_ERR_CRL_HAS_EXPIRED || error == X509_V_ERR_CRL_NOT_YET_VALID) {
      absl::StrAppend(&reason, " (CRL of issuer \"", IssuerDistinguishedName(failing), "\", checked at ",
                      FormatUtc(at), "; install a current CRL)");
    } else if (error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
      absl::StrAppend(&reason, " (issuer \"", IssuerDistinguishedName(failing),
                      "\" is not a configured trust anchor)");
    }
    std::string where =
        depth > 0 ? absl::StrCat(" at its issuer ", Describe(failing), " (chain depth ", depth, ")")
                  : std::string();
    ERR_clear_error();
    return absl::UnauthenticatedError(absl::StrCat(Describe(x509), " (sha256 ", leaf.Sha256Fingerprint(),
                                                   ") failed chain validation", where, ": ", reason));
  }
  return CheckPurpose(x509, purpose);
}

}  // namespace caselink::security
