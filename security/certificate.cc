// X.509 parsing, fingerprints and chain validation over OpenSSL's X509_STORE, with
// errors that tell an operator which certificate failed and why.
#include "security/certificate.h"

#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <openssl/asn1.h>
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
#include "absl/strings/str_cat.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"

namespace caselink::security {
namespace {

constexpr size_t kPemLineLength = 64;
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%SZ";

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct X509StoreDeleter {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
struct OpenSslFreeDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter>;
using OpenSslBytesPtr = std::unique_ptr<unsigned char, OpenSslFreeDeleter>;

// Drains the thread's OpenSSL error queue so a stale error never leaks into a
// later, unrelated message.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

// Certificates never carry passphrases; refusing keeps OpenSSL from ever
// prompting on the terminal.
int RefusePassphrase(char*, int, int, void*) { return -1; }

// BIO_new_mem_buf refuses a null pointer, which a default string_view has.
BioPtr ReadOnlyBio(absl::string_view text) {
  static constexpr char kEmpty[] = "";
  return BioPtr(BIO_new_mem_buf(text.empty() ? kEmpty : text.data(), static_cast<int>(text.size())));
}

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

// RFC 2253 form, so an operator can match it against the anchors they configured.
std::string IssuerDistinguishedName(X509* x509) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), X509_get_issuer_name(x509), 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "unknown issuer";
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

std::string FormatUtc(absl::Time t) { return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone()); }

std::string Describe(X509* x509) {
  std::string cn = CommonNameOf(x509);
  return cn.empty() ? std::string("certificate without common name") : absl::StrCat("certificate '", cn, "'");
}

std::string KeyDescription(EVP_PKEY* pkey) {
  const char* type = EVP_PKEY_get0_type_name(pkey);
  if (type == nullptr) type = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
  std::string out = type != nullptr ? type : "unknown";
  char group[80] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) == 1) {
      absl::StrAppend(&out, " on curve ", group);
    } else {
      ERR_clear_error();
      absl::StrAppend(&out, " with explicit curve parameters");
    }
  }
  return out;
}

bool IsP256(EVP_PKEY* pkey) {
  if (!EVP_PKEY_is_a(pkey, "EC")) return false;
  char group[80] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1) {
    ERR_clear_error();
    return false;
  }
  int nid = OBJ_sn2nid(group);
  if (nid == NID_undef) nid = EC_curve_nist2nid(group);
  return nid == NID_X9_62_prime256v1;
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
  }
  return absl::InvalidArgumentError("unknown key purpose");
}

}  // namespace

struct Certificate::Impl {
  X509Ptr x509;
};

Certificate::Certificate(std::unique_ptr<Impl> impl, std::string der)
    : impl_(std::move(impl)), der_(std::move(der)) {}

Certificate::~Certificate() = default;

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromPem(absl::string_view pem) {
  BioPtr bio = ReadOnlyBio(pem);
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIO: ", OpenSslErrors()));
  }
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (x509 == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text is not a PEM certificate (expected a \"BEGIN CERTIFICATE\" block): ", OpenSslErrors()));
  }
  absl::StatusOr<std::string> der = DerOf(x509.get());
  if (!der.ok()) return der.status();
  auto impl = std::make_unique<Impl>();
  impl->x509 = std::move(x509);
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
  BioPtr bio = ReadOnlyBio(pem);
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIO: ", OpenSslErrors()));
  }
  ERR_clear_error();
  std::vector<std::unique_ptr<Certificate>> certificates;
  while (true) {
    X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
    if (x509 == nullptr) {
      // Running out of PEM blocks is how the loop normally ends; anything else
      // is a damaged block the operator has to fix.
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
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

absl::StatusOr<std::unique_ptr<Verifier>> Certificate::PublicKeyVerifier() const {
  EVP_PKEY* pkey = X509_get0_pubkey(impl_->x509.get());
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(impl_->x509.get()), " has an undecodable public key: ", OpenSslErrors()));
  }
  if (!IsP256(pkey)) {
    return absl::UnimplementedError(absl::StrCat(Describe(impl_->x509.get()), " has a ", KeyDescription(pkey),
                                                 " public key; only EC P-256 keys are supported"));
  }
  unsigned char* raw = nullptr;
  int size = i2d_PUBKEY(pkey, &raw);
  OpenSslBytesPtr spki(raw);
  if (size <= 0) {
    return absl::InternalError(absl::StrCat("cannot encode the public key of ", Describe(impl_->x509.get()),
                                            ": ", OpenSslErrors()));
  }
  absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> verifier = EcdsaP256Verifier::CreateFromPublicKeyDer(
      absl::string_view(reinterpret_cast<const char*>(spki.get()), static_cast<size_t>(size)));
  if (!verifier.ok()) return verifier.status();
  return std::unique_ptr<Verifier>(*std::move(verifier));
}

struct ChainValidator::Impl {
  X509StorePtr store;
};

ChainValidator::ChainValidator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChainValidator::~ChainValidator() = default;

absl::StatusOr<std::unique_ptr<ChainValidator>> ChainValidator::Create(absl::string_view anchors_pem) {
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
  // The configured anchors are trusted as given, even when one is an intermediate
  // rather than a self-signed root; otherwise pinning an agency's issuing CA fails.
  if (X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN) != 1) {
    return absl::InternalError(absl::StrCat("cannot configure the X509_STORE: ", OpenSslErrors()));
  }
  auto impl = std::make_unique<Impl>();
  impl->store = std::move(store);
  return std::unique_ptr<ChainValidator>(new ChainValidator(std::move(impl)));
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
