// Internal to caselink_security: OpenSSL handle owners, error draining, key parsing and AEAD
// framing shared by the primitives, so each one checks keys the same way. Not the public API.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security::internal {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpMdDeleter {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
struct EvpCipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpCipherDeleter {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};
struct EvpMacDeleter {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct EvpMacCtxDeleter {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
struct EvpKdfDeleter {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct EvpKdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct EcGroupDeleter {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct BignumDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BnCtxDeleter {
  void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
struct OsslParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct OsslParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct OpenSslFreeDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509CrlDeleter {
  void operator()(X509_CRL* p) const { X509_CRL_free(p); }
};

using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;
using EvpMdPtr = std::unique_ptr<EVP_MD, EvpMdDeleter>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter>;
using EvpCipherPtr = std::unique_ptr<EVP_CIPHER, EvpCipherDeleter>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, EvpMacDeleter>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxDeleter>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, EvpKdfDeleter>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxDeleter>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, EcGroupDeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumDeleter>;
using BnCtxPtr = std::unique_ptr<BN_CTX, BnCtxDeleter>;
using OsslParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OsslParamBldDeleter>;
using OsslParamPtr = std::unique_ptr<OSSL_PARAM[], OsslParamDeleter>;
using OpenSslBytesPtr = std::unique_ptr<unsigned char, OpenSslFreeDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlDeleter>;

// Owns a secret and wipes it when destroyed, so keys held by primitives do not
// linger in freed heap memory.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(absl::string_view bytes) : bytes_(bytes) {}
  ~SecretBytes() { Wipe(); }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(bytes_.data()); }
  size_t size() const { return bytes_.size(); }
  absl::string_view view() const { return bytes_; }

 private:
  void Wipe() {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  std::string bytes_;
};

// Wipes `s` (a string that held secret material) and empties it.
void WipeString(std::string& s);

// Drains the thread's OpenSSL error queue into one line, so a stale error never
// leaks into a later, unrelated message.
std::string OpenSslErrors();

// Encrypted keys would otherwise make OpenSSL prompt on the controlling terminal, which
// hangs a daemon; refusing the passphrase turns that into an error.
int RefusePassphrase(char*, int, int, void*);

// EVP calls want a non-null pointer even for empty input.
const unsigned char* BytesOf(absl::string_view s);
unsigned char* MutableBytesOf(std::string& s);

// A memory BIO reading `text`; RESOURCE_EXHAUSTED when OpenSSL cannot provide one. (The
// BIO_new_mem_buf underneath refuses a null pointer, which a default string_view has.)
absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view text);
// Copies a memory BIO's contents; the BIO keeps (and frees) its own buffer.
std::string BioContents(BIO* bio);

// "EC on curve prime256v1", "ED25519", "SM2": names a key for error messages.
std::string KeyDescription(const EVP_PKEY* pkey);

enum class KeyKind { kP256, kEd25519, kSm2, kOther };

// Classifies a key; an EC key on the SM2 curve counts as kSm2 (OpenSSL 3 reports keys
// from some encoders that way, and from others as type "SM2").
KeyKind KindOf(const EVP_PKEY* pkey);

// OK when `pkey` is an EC key on P-256 (CheckIsSm2: an SM2 key as KindOf counts it);
// otherwise INVALID_ARGUMENT naming `what` and the key actually given.
absl::Status CheckIsP256(const EVP_PKEY* pkey, absl::string_view what);
absl::Status CheckIsSm2(const EVP_PKEY* pkey, absl::string_view what);

// Returns a key of OpenSSL type "SM2" for an "SM2" key or an EC key on curve SM2, so
// that EVP sign/verify/encrypt select the SM2 algorithms rather than ECDSA/ECIES-less EC.
// `include_private` selects whether the private scalar is carried over.
absl::StatusOr<EvpPkeyPtr> NormalizeSm2Key(EvpPkeyPtr pkey, bool include_private);

// PEM parsing. `what` names the key in messages ("private key for 'k1'").
absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem, absl::string_view what);
absl::StatusOr<EvpPkeyPtr> ParsePublicKeyPem(absl::string_view pem, absl::string_view what);
absl::StatusOr<EvpPkeyPtr> ParsePublicKeyDer(absl::string_view der, absl::string_view what);

// Builds an EC public key of OpenSSL type `key_type` ("EC" or "SM2") on `group` from an
// uncompressed SEC1 point (0x04 || X || Y).
absl::StatusOr<EvpPkeyPtr> EcPublicKeyFromPoint(const char* key_type, const char* group,
                                                absl::string_view point);

// The uncompressed SEC1 encoding of an EC (or SM2) public key.
absl::StatusOr<std::string> EcPublicPoint(const EVP_PKEY* pkey);

// Rejects points off the curve or of wrong order before they are used.
absl::Status CheckPublicKey(EVP_PKEY* pkey, absl::string_view what);

// An SM2 public key ready for EVP: CheckIsSm2, NormalizeSm2Key and CheckPublicKey in turn.
absl::StatusOr<EvpPkeyPtr> ValidatedSm2PublicKey(EvpPkeyPtr pkey, absl::string_view what);

// The first certificate in a PEM text; `what` names the text in messages.
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem, absl::string_view what);

// SubjectPublicKeyInfo PEM and DER of a key.
absl::StatusOr<std::string> PublicKeyPem(EVP_PKEY* pkey);
absl::StatusOr<std::string> PublicKeyDer(EVP_PKEY* pkey);
// PKCS#8 PEM; the temporary buffer is a secure-heap BIO that is wiped when freed.
absl::StatusOr<std::string> PrivateKeyPem(EVP_PKEY* pkey);

// SHA-256 fetched once for the process. Passing EVP_sha256() to EVP_DigestSignInit/VerifyInit
// makes OpenSSL 3 look the implementation up again (under a lock) on every call. Null when this
// OpenSSL has no SHA-256.
const EVP_MD* Sha256Md();

// A digest-sign or digest-verify context initialised once for one key. Each call works on its
// own copy (EVP_MD_CTX_copy_ex), so concurrent Sign/Verify calls on one object share only this
// template, which copying only reads (and reference-counts), and skip the per-call algorithm
// fetch and key context setup.
class DigestContextTemplate {
 public:
  // `init` sets up the empty context it is given (EVP_DigestSignInit or EVP_DigestVerifyInit and
  // any parameters); its error is returned as is.
  static absl::StatusOr<std::unique_ptr<DigestContextTemplate>> Create(
      const std::function<absl::Status(EVP_MD_CTX*)>& init);

  // A copy for one EVP_DigestSign or EVP_DigestVerify call, flagged for a single final step
  // (EVP_MD_CTX_FLAG_FINALISE) so that OpenSSL does not duplicate it once more inside it.
  absl::StatusOr<EvpMdCtxPtr> NewCall() const;

 private:
  explicit DigestContextTemplate(EvpMdCtxPtr ctx) : ctx_(std::move(ctx)) {}
  EvpMdCtxPtr ctx_;
};

// Signs `data` with `ctx`, already set up by EVP_DigestSignInit for `pkey`, into a buffer of
// the key's maximum signature size. `algorithm` ("ECDSA") and `key_id` name them in messages.
absl::StatusOr<std::string> DigestSign(EVP_MD_CTX* ctx, const EVP_PKEY* pkey, absl::string_view data,
                                       absl::string_view algorithm, absl::string_view key_id);

// Accepts an ECDSA/SM2 signature only as the one canonical DER (r, s) encoding, so a
// signature cannot be re-encoded into a second valid one. UNAUTHENTICATED otherwise.
absl::Status CheckCanonicalDerSignature(absl::string_view signature);

// Fills `out` with cryptographically secure random bytes.
absl::Status RandomBytes(size_t size, std::string* out);

// EVP update functions take an int length; this bounds each call.
inline constexpr size_t kMaxEvpChunk = size_t{1} << 30;

// Feeds `in` through EVP_CipherUpdate in int-sized pieces; `out` (when non-null) receives
// the same number of bytes, so this suits stream modes (GCM, CTR) only.
bool CipherUpdateAll(EVP_CIPHER_CTX* ctx, absl::string_view in, unsigned char* out);

// Framing of the random-IV AEADs (AES-GCM, SM4-CTR-HMAC-SM3): Encrypt() returns
// iv || EncryptWithIv(iv, ...) and Decrypt() splits that again. `name` names the algorithm
// in the INVALID_ARGUMENT messages of the length checks.
absl::Status CheckAeadIvSize(absl::string_view name, absl::string_view iv, size_t iv_size);
absl::Status CheckAeadHoldsTag(absl::string_view name, absl::string_view ciphertext_and_tag, size_t tag_size);
absl::Status CheckAeadHoldsIvAndTag(absl::string_view name, absl::string_view ciphertext, size_t iv_size,
                                    size_t tag_size);

// Draws a fresh `iv_size`-byte IV and returns iv || seal(iv).
template <typename Seal>
absl::StatusOr<std::string> SealUnderRandomIv(size_t iv_size, Seal&& seal) {
  std::string iv;
  if (absl::Status s = RandomBytes(iv_size, &iv); !s.ok()) return s;
  absl::StatusOr<std::string> sealed = std::forward<Seal>(seal)(absl::string_view(iv));
  if (!sealed.ok()) return sealed.status();
  iv.append(*sealed);
  return iv;
}

}  // namespace caselink::security::internal
