// P-256, Ed25519 and SM2 key generation, X.509 certificate and CRL issuance for development
// PKIs (`pki init`) and tests, with the extensions each CertificateProfile promises.
#include "security/pki.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

constexpr int kSerialBits = 128;
constexpr char kP256Name[] = "P-256";

using internal::BignumPtr;
using internal::BioContents;
using internal::BioPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslErrors;
using internal::X509Ptr;

struct X509NameDeleter {
  void operator()(X509_NAME* name) const { X509_NAME_free(name); }
};
struct X509ExtensionDeleter {
  void operator()(X509_EXTENSION* ext) const { X509_EXTENSION_free(ext); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct GeneralNameDeleter {
  void operator()(GENERAL_NAME* name) const { GENERAL_NAME_free(name); }
};
struct Asn1StringDeleter {
  void operator()(ASN1_STRING* s) const { ASN1_STRING_free(s); }
};
struct Asn1TimeDeleter {
  void operator()(ASN1_TIME* t) const { ASN1_TIME_free(t); }
};
struct Asn1IntegerDeleter {
  void operator()(ASN1_INTEGER* i) const { ASN1_INTEGER_free(i); }
};
struct X509RevokedDeleter {
  void operator()(X509_REVOKED* r) const { X509_REVOKED_free(r); }
};
using X509NamePtr = std::unique_ptr<X509_NAME, X509NameDeleter>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509ExtensionDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, GeneralNameDeleter>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Asn1StringDeleter>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Asn1TimeDeleter>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Asn1IntegerDeleter>;
using X509RevokedPtr = std::unique_ptr<X509_REVOKED, X509RevokedDeleter>;

// Issuers sign with the algorithm of their key: ECDSA-SHA256 for P-256, SM2-SM3 for SM2,
// pure Ed25519 for Ed25519.
absl::StatusOr<EvpPkeyPtr> ParseIssuerKey(absl::string_view pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(pem, "issuer private key");
  if (!pkey.ok()) return pkey.status();
  switch (internal::KindOf(pkey->get())) {
    case internal::KeyKind::kP256:
    case internal::KeyKind::kEd25519:
      return pkey;
    case internal::KeyKind::kSm2:
      return internal::NormalizeSm2Key(*std::move(pkey), /*include_private=*/true);
    case internal::KeyKind::kOther:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("issuer private key is ", internal::KeyDescription(pkey->get()),
                                                 "; expected EC P-256 (ECDSA-SHA256), SM2 (SM2-SM3) or Ed25519"));
}

// A signing context for certificates and CRLs: the digest follows the key type, and SM2
// signs with the default user id that GM/T 0015 verifiers assume.
absl::StatusOr<internal::EvpMdCtxPtr> IssuerSigningContext(EVP_PKEY* key) {
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a digest context: ", OpenSslErrors()));
  }
  const internal::KeyKind kind = internal::KindOf(key);
  const EVP_MD* md = nullptr;
  if (kind == internal::KeyKind::kP256) md = EVP_sha256();
  if (kind == internal::KeyKind::kSm2) md = EVP_sm3();
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return absl::InternalError(absl::StrCat("cannot set up issuer signing: ", OpenSslErrors()));
  }
  if (kind == internal::KeyKind::kSm2 &&
      EVP_PKEY_CTX_set1_id(pctx, kSm2DefaultUserId, sizeof(kSm2DefaultUserId) - 1) <= 0) {
    return absl::InternalError(absl::StrCat("cannot set the SM2 user id for issuing: ", OpenSslErrors()));
  }
  return ctx;
}

absl::StatusOr<KeyPair> EncodeKeyPair(EVP_PKEY* pkey) {
  absl::StatusOr<std::string> private_pem = internal::PrivateKeyPem(pkey);
  if (!private_pem.ok()) return private_pem.status();
  absl::StatusOr<std::string> public_pem = internal::PublicKeyPem(pkey);
  if (!public_pem.ok()) {
    internal::WipeString(*private_pem);
    return public_pem.status();
  }
  KeyPair pair;
  pair.private_key_pem = *std::move(private_pem);
  pair.public_key_pem = *std::move(public_pem);
  return pair;
}

absl::Status ValidateRequest(const CertificateRequest& request) {
  if (request.common_name.empty()) {
    return absl::InvalidArgumentError("certificate request has an empty common_name");
  }
  if (request.not_before == absl::InfinitePast() || request.not_before == absl::InfiniteFuture() ||
      request.not_after == absl::InfinitePast() || request.not_after == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate request for '", request.common_name,
                     "' needs finite not_before/not_after"));
  }
  if (request.not_before >= request.not_after) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate request for '", request.common_name, "' has not_before ",
        absl::FormatTime(request.not_before), " at or after not_after ",
        absl::FormatTime(request.not_after)));
  }
  if (request.profile == CertificateProfile::kTlsServer && request.dns_names.empty() &&
      request.ip_addresses.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS server certificate '", request.common_name,
        "' needs at least one DNS name or IP address; clients match subjectAltName, not the common name"));
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* x509) {
  BignumPtr serial(BN_new());
  if (serial == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIGNUM: ", OpenSslErrors()));
  }
  // A zero serial is invalid per RFC 5280; the chance is 2^-128 but the check is free.
  do {
    if (BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) {
      return absl::InternalError(absl::StrCat("cannot draw a random serial number: ", OpenSslErrors()));
    }
  } while (BN_is_zero(serial.get()));
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x509)) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot set the serial number: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::StatusOr<X509NamePtr> BuildSubject(const CertificateRequest& request) {
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a name: ", OpenSslErrors()));
  }
  if (!request.organization.empty() &&
      X509_NAME_add_entry_by_NID(name.get(), NID_organizationName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(request.organization.data()),
                                 static_cast<int>(request.organization.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("organization '", request.organization,
                                                   "' cannot be encoded (at most 64 characters): ",
                                                   OpenSslErrors()));
  }
  if (X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(request.common_name.data()),
                                 static_cast<int>(request.common_name.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("common name '", request.common_name,
                                                   "' cannot be encoded (at most 64 characters): ",
                                                   OpenSslErrors()));
  }
  return name;
}

absl::Status SetValidity(X509* x509, const CertificateRequest& request) {
  // ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime after, as RFC 5280 requires.
  if (ASN1_TIME_set(X509_getm_notBefore(x509), absl::ToTimeT(request.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x509), absl::ToTimeT(request.not_after)) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("validity period of '", request.common_name,
                                                   "' cannot be encoded: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status AddConfExtension(X509* x509, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot build extension ", OBJ_nid2sn(nid), "=", value, ": ", OpenSslErrors()));
  }
  if (X509_add_ext(x509, ext.get(), -1) != 1) {
    return absl::InternalError(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid), ": ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

// dNSName is an IA5String; anything outside printable ASCII without spaces is
// a typo that would yield a name no client can match.
bool IsPlausibleDnsName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == ',') return false;
  }
  return true;
}

// Built as GENERAL_NAMES rather than a config string so names containing commas
// or colons cannot inject extra entries.
absl::Status AddSubjectAltName(X509* x509, const CertificateRequest& request) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (names == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate names: ", OpenSslErrors()));
  }
  for (const std::string& dns : request.dns_names) {
    if (!IsPlausibleDnsName(dns)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", dns, "' is not a valid DNS name for subjectAltName"));
    }
    Asn1StringPtr ia5(ASN1_IA5STRING_new());
    GeneralNamePtr name(GENERAL_NAME_new());
    if (ia5 == nullptr || name == nullptr ||
        ASN1_STRING_set(ia5.get(), dns.data(), static_cast<int>(dns.size())) != 1) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot encode DNS name: ", OpenSslErrors()));
    }
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, ia5.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot add DNS name: ", OpenSslErrors()));
    }
    name.release();
  }
  for (const std::string& ip : request.ip_addresses) {
    Asn1StringPtr octets(a2i_IPADDRESS(ip.c_str()));
    if (octets == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("'", ip, "' is not an IPv4 or IPv6 address for subjectAltName"));
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (name == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot encode IP address: ", OpenSslErrors()));
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot add IP address: ", OpenSslErrors()));
    }
    name.release();
  }
  if (X509_add1_ext_i2d(x509, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return absl::InternalError(absl::StrCat("cannot add subjectAltName: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status AddExtensions(X509* x509, X509* issuer, const CertificateRequest& request) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x509, nullptr, nullptr, 0);
  X509V3_set_ctx_nodb(&ctx);

  const char* basic_constraints = "critical,CA:FALSE";
  const char* key_usage = "critical,digitalSignature";
  const char* extended_key_usage = nullptr;
  switch (request.profile) {
    case CertificateProfile::kCa:
      basic_constraints = "critical,CA:TRUE";
      key_usage = "critical,keyCertSign,cRLSign";
      break;
    case CertificateProfile::kTlsServer:
      extended_key_usage = "serverAuth";
      break;
    case CertificateProfile::kTlsClient:
      extended_key_usage = "clientAuth";
      break;
    case CertificateProfile::kSigning:
      key_usage = "critical,digitalSignature,nonRepudiation";
      break;
    case CertificateProfile::kKeyAgreement:
      key_usage = "critical,keyAgreement";
      break;
    case CertificateProfile::kKeyEncipherment:
      key_usage = "critical,keyEncipherment,dataEncipherment";
      break;
  }
  if (absl::Status s = AddConfExtension(x509, &ctx, NID_basic_constraints, basic_constraints); !s.ok()) {
    return s;
  }
  if (absl::Status s = AddConfExtension(x509, &ctx, NID_key_usage, key_usage); !s.ok()) return s;
  if (extended_key_usage != nullptr) {
    if (absl::Status s = AddConfExtension(x509, &ctx, NID_ext_key_usage, extended_key_usage); !s.ok()) {
      return s;
    }
  }
  // The subject key id must exist before the authority key id: for a self-signed
  // certificate OpenSSL copies it from the certificate being built.
  if (absl::Status s = AddConfExtension(x509, &ctx, NID_subject_key_identifier, "hash"); !s.ok()) return s;
  if (absl::Status s = AddConfExtension(x509, &ctx, NID_authority_key_identifier, "keyid:always"); !s.ok()) {
    return s;
  }
  if (!request.dns_names.empty() || !request.ip_addresses.empty()) {
    if (absl::Status s = AddSubjectAltName(x509, request); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ToPem(X509* x509) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x509) != 1) {
    return absl::InternalError(absl::StrCat("cannot PEM-encode the certificate: ", OpenSslErrors()));
  }
  return BioContents(bio.get());
}

}  // namespace

absl::StatusOr<KeyPair> GenerateEcP256KeyPair() {
  EvpPkeyPtr pkey(EVP_EC_gen(kP256Name));
  if (pkey == nullptr) {
    return absl::InternalError(absl::StrCat("P-256 key generation failed: ", OpenSslErrors()));
  }
  return EncodeKeyPair(pkey.get());
}

absl::StatusOr<KeyPair> GenerateSm2KeyPair() {
  // Type "SM2" (not EC on curve SM2), so the key selects the SM2 algorithms everywhere.
  EvpPkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"));
  if (pkey == nullptr) {
    return absl::InternalError(absl::StrCat("SM2 key generation failed (does this OpenSSL support SM2?): ",
                                            OpenSslErrors()));
  }
  return EncodeKeyPair(pkey.get());
}

absl::StatusOr<KeyPair> GenerateEd25519KeyPair() {
  EvpPkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (pkey == nullptr) {
    return absl::InternalError(absl::StrCat("Ed25519 key generation failed: ", OpenSslErrors()));
  }
  return EncodeKeyPair(pkey.get());
}

absl::StatusOr<std::string> PublicKeyPemFromPrivateKey(absl::string_view private_key_pem) {
  absl::StatusOr<internal::EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, "private key");
  if (!pkey.ok()) return pkey.status();
  return internal::PublicKeyPem(pkey->get());
}

absl::StatusOr<std::string> IssueCertificate(const CertificateRequest& request,
                                             const std::string& issuer_certificate_pem,
                                             const std::string& issuer_private_key_pem) {
  if (absl::Status s = ValidateRequest(request); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> subject_key = internal::ParsePublicKeyPem(request.public_key_pem, "request public key");
  if (!subject_key.ok()) return subject_key.status();
  absl::StatusOr<EvpPkeyPtr> issuer_key = ParseIssuerKey(issuer_private_key_pem);
  if (!issuer_key.ok()) return issuer_key.status();

  const bool self_signed = issuer_certificate_pem.empty();
  X509Ptr issuer_cert;
  if (self_signed) {
    if (EVP_PKEY_eq(subject_key->get(), issuer_key->get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          "self-signed certificate '", request.common_name,
          "': request.public_key_pem does not match the issuer private key"));
    }
  } else {
    absl::StatusOr<X509Ptr> parsed = internal::ParseCertificatePem(issuer_certificate_pem, "issuer certificate");
    if (!parsed.ok()) return parsed.status();
    issuer_cert = *std::move(parsed);
    if (X509_check_private_key(issuer_cert.get(), issuer_key->get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          "issuer private key does not match the issuer certificate's public key");
    }
    if (X509_check_ca(issuer_cert.get()) == 0) {
      return absl::InvalidArgumentError(
          "issuer certificate is not a CA (basicConstraints CA:TRUE missing); issue it with the kCa profile");
    }
  }

  X509Ptr x509(X509_new());
  if (x509 == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate X509: ", OpenSslErrors()));
  }
  if (X509_set_version(x509.get(), X509_VERSION_3) != 1) {
    return absl::InternalError(absl::StrCat("cannot set certificate version: ", OpenSslErrors()));
  }
  if (absl::Status s = SetRandomSerial(x509.get()); !s.ok()) return s;
  absl::StatusOr<X509NamePtr> subject = BuildSubject(request);
  if (!subject.ok()) return subject.status();
  X509_NAME* issuer_name = self_signed ? subject->get() : X509_get_subject_name(issuer_cert.get());
  if (X509_set_subject_name(x509.get(), subject->get()) != 1 ||
      X509_set_issuer_name(x509.get(), issuer_name) != 1) {
    return absl::InternalError(absl::StrCat("cannot set certificate names: ", OpenSslErrors()));
  }
  if (absl::Status s = SetValidity(x509.get(), request); !s.ok()) return s;
  if (X509_set_pubkey(x509.get(), subject_key->get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot set the certificate public key: ", OpenSslErrors()));
  }
  X509* extension_issuer = self_signed ? x509.get() : issuer_cert.get();
  if (absl::Status s = AddExtensions(x509.get(), extension_issuer, request); !s.ok()) return s;
  absl::StatusOr<internal::EvpMdCtxPtr> signing = IssuerSigningContext(issuer_key->get());
  if (!signing.ok()) return signing.status();
  if (X509_sign_ctx(x509.get(), signing->get()) <= 0) {
    return absl::InternalError(
        absl::StrCat("signing certificate '", request.common_name, "' failed: ", OpenSslErrors()));
  }
  return ToPem(x509.get());
}

absl::StatusOr<std::string> IssueCrl(const std::string& issuer_certificate_pem,
                                     const std::string& issuer_private_key_pem,
                                     const std::vector<std::string>& revoked_serials_hex, absl::Time this_update,
                                     absl::Time next_update) {
  if (this_update == absl::InfinitePast() || this_update == absl::InfiniteFuture() ||
      next_update == absl::InfinitePast() || next_update == absl::InfiniteFuture() || this_update >= next_update) {
    return absl::InvalidArgumentError("CRL needs finite this_update before next_update");
  }
  absl::StatusOr<X509Ptr> issuer = internal::ParseCertificatePem(issuer_certificate_pem, "issuer certificate");
  if (!issuer.ok()) return issuer.status();
  absl::StatusOr<EvpPkeyPtr> issuer_key = ParseIssuerKey(issuer_private_key_pem);
  if (!issuer_key.ok()) return issuer_key.status();
  if (X509_check_private_key(issuer->get(), issuer_key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("issuer private key does not match the issuer certificate's public key");
  }
  if (X509_check_ca(issuer->get()) == 0) {
    return absl::InvalidArgumentError("CRL issuer certificate is not a CA (basicConstraints CA:TRUE missing)");
  }
  if ((X509_get_extension_flags(issuer->get()) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(issuer->get()) & KU_CRL_SIGN) == 0) {
    return absl::InvalidArgumentError("CRL issuer certificate's keyUsage does not include cRLSign");
  }

  internal::X509CrlPtr crl(X509_CRL_new());
  if (crl == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a CRL: ", OpenSslErrors()));
  }
  Asn1TimePtr last(ASN1_TIME_set(nullptr, absl::ToTimeT(this_update)));
  Asn1TimePtr next(ASN1_TIME_set(nullptr, absl::ToTimeT(next_update)));
  if (last == nullptr || next == nullptr || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer->get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 || X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot set the CRL header: ", OpenSslErrors()));
  }
  for (const std::string& hex : revoked_serials_hex) {
    BIGNUM* raw = nullptr;
    const bool plain_hex = !hex.empty() && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
    if (!plain_hex || BN_hex2bn(&raw, hex.c_str()) != static_cast<int>(hex.size())) {
      BN_free(raw);
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("revoked serial '", hex, "' is not a hex number"));
    }
    BignumPtr serial_bn(raw);
    Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(serial_bn.get(), nullptr));
    X509RevokedPtr revoked(X509_REVOKED_new());
    if (serial == nullptr || revoked == nullptr || X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(revoked.get(), last.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      return absl::InternalError(absl::StrCat("cannot add revoked serial ", hex, ": ", OpenSslErrors()));
    }
    revoked.release();  // now owned by the CRL
  }
  if (X509_CRL_sort(crl.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot sort the CRL entries: ", OpenSslErrors()));
  }
  // RFC 5280 5.2: conforming CRLs carry the authority key id and a CRL number; the
  // thisUpdate second makes successive test CRLs increase.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer->get(), nullptr, nullptr, crl.get(), 0);
  X509V3_set_ctx_nodb(&ctx);
  X509ExtensionPtr aki(X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1 || number == nullptr ||
      ASN1_INTEGER_set_int64(number.get(), absl::ToUnixSeconds(this_update)) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return absl::InternalError(absl::StrCat("cannot add the CRL extensions: ", OpenSslErrors()));
  }
  absl::StatusOr<internal::EvpMdCtxPtr> signing = IssuerSigningContext(issuer_key->get());
  if (!signing.ok()) return signing.status();
  if (X509_CRL_sign_ctx(crl.get(), signing->get()) <= 0) {
    return absl::InternalError(absl::StrCat("signing the CRL failed: ", OpenSslErrors()));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot PEM-encode the CRL: ", OpenSslErrors()));
  }
  return BioContents(bio.get());
}

}  // namespace caselink::security
