// SM4-CTR + HMAC-SM3 encrypt-then-MAC over OpenSSL 3 EVP; see the header for the exact layout.
#include "security/sm4_ctr_hmac_sm3.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/mac.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::EvpCipherCtxPtr;
using internal::MutableBytesOf;
using internal::OpenSslErrors;

// The IV is SM4-CTR's counter block, so messages about it name the cipher alone.
constexpr char kName[] = "SM4-CTR-HMAC-SM3";
constexpr char kCtrName[] = "SM4-CTR";

std::string Uint64Be(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

}  // namespace

struct Sm4CtrHmacSm3::State {
  internal::SecretBytes enc_key;
  std::unique_ptr<Hmac> mac;
  internal::EvpCipherPtr cipher;
  explicit State(absl::string_view k) : enc_key(k) {}

  // CTR is symmetric: the same transform encrypts and decrypts.
  absl::StatusOr<std::string> Ctr(absl::string_view iv, absl::string_view in) const {
    EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (ctx == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a cipher context: ", OpenSslErrors()));
    }
    if (EVP_EncryptInit_ex2(ctx.get(), cipher.get(), enc_key.data(), BytesOf(iv), nullptr) != 1) {
      return absl::InternalError(absl::StrCat("SM4-CTR setup failed: ", OpenSslErrors()));
    }
    std::string out(in.size(), '\0');
    if (!internal::CipherUpdateAll(ctx.get(), in, MutableBytesOf(out))) {
      internal::WipeString(out);
      return absl::InternalError(absl::StrCat("SM4-CTR failed: ", OpenSslErrors()));
    }
    return out;
  }
};

absl::StatusOr<std::unique_ptr<Sm4CtrHmacSm3>> Sm4CtrHmacSm3::Create(absl::string_view key) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("SM4-CTR-HMAC-SM3 key must be ", kKeySize,
                                                   " bytes (16-byte SM4 key || 32-byte HMAC-SM3 key), got ",
                                                   key.size()));
  }
  auto state = std::make_unique<State>(key.substr(0, kEncKeySize));
  state->cipher.reset(EVP_CIPHER_fetch(nullptr, "SM4-CTR", nullptr));
  if (state->cipher == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("this OpenSSL has no SM4-CTR (required by the GM profile): ", OpenSslErrors()));
  }
  absl::StatusOr<std::unique_ptr<Hmac>> mac = Hmac::Create(DigestAlgorithm::kSm3, key.substr(kEncKeySize));
  if (!mac.ok()) return mac.status();
  state->mac = *std::move(mac);
  return std::unique_ptr<Sm4CtrHmacSm3>(new Sm4CtrHmacSm3(std::move(state)));
}

Sm4CtrHmacSm3::Sm4CtrHmacSm3(std::unique_ptr<State> state) : state_(std::move(state)) {}

Sm4CtrHmacSm3::~Sm4CtrHmacSm3() = default;

absl::StatusOr<std::string> Sm4CtrHmacSm3::Encrypt(absl::string_view plaintext, absl::string_view aad) const {
  return internal::SealUnderRandomIv(kIvSize,
                                     [&](absl::string_view iv) { return EncryptWithIv(iv, plaintext, aad); });
}

absl::StatusOr<std::string> Sm4CtrHmacSm3::Decrypt(absl::string_view ciphertext, absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadHoldsIvAndTag(kName, ciphertext, kIvSize, kTagSize); !s.ok()) return s;
  return DecryptWithIv(ciphertext.substr(0, kIvSize), ciphertext.substr(kIvSize), aad);
}

absl::StatusOr<std::string> Sm4CtrHmacSm3::EncryptWithIv(absl::string_view iv, absl::string_view plaintext,
                                                         absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadIvSize(kCtrName, iv, kIvSize); !s.ok()) return s;
  absl::StatusOr<std::string> ciphertext = state_->Ctr(iv, plaintext);
  if (!ciphertext.ok()) return ciphertext.status();
  absl::StatusOr<std::string> tag = state_->mac->ComputeOver({Uint64Be(aad.size()), aad, iv, *ciphertext});
  if (!tag.ok()) return tag.status();
  ciphertext->append(*tag);
  return ciphertext;
}

absl::StatusOr<std::string> Sm4CtrHmacSm3::DecryptWithIv(absl::string_view iv, absl::string_view ciphertext_and_tag,
                                                         absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadIvSize(kCtrName, iv, kIvSize); !s.ok()) return s;
  if (absl::Status s = internal::CheckAeadHoldsTag(kName, ciphertext_and_tag, kTagSize); !s.ok()) return s;
  const absl::string_view ciphertext = ciphertext_and_tag.substr(0, ciphertext_and_tag.size() - kTagSize);
  const absl::string_view tag = ciphertext_and_tag.substr(ciphertext.size());
  // Encrypt-then-MAC: nothing is decrypted unless the tag over everything verifies.
  if (absl::Status s = state_->mac->VerifyOver(tag, {Uint64Be(aad.size()), aad, iv, ciphertext}); !s.ok()) {
    if (s.code() != absl::StatusCode::kUnauthenticated) return s;
    return absl::UnauthenticatedError(
        "SM4-CTR-HMAC-SM3 authentication failed: the ciphertext, IV, tag or associated data was modified, or the "
        "key is wrong");
  }
  return state_->Ctr(iv, ciphertext);
}

}  // namespace caselink::security
