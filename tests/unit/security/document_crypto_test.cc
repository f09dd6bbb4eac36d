// The streaming document format for both suites: round trips at chunk boundaries, several
// recipients, and refusal of modified, reordered, truncated or extended documents.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "security/document_crypto.h"
#include "security/ecdh_p256.h"
#include "security/pki.h"
#include "security/sm2_encryption.h"

namespace caselink::security {
namespace {

constexpr size_t kChunk = 1024;
constexpr size_t kFrameOverheadGcm = 5 + 16;

struct Party {
  std::string key_id;
  std::unique_ptr<KeyWrapper> wrapper;
  std::unique_ptr<KeyUnwrapper> unwrapper;
};

Party MakeParty(DocumentSuite suite, std::string key_id) {
  Party party;
  party.key_id = std::move(key_id);
  if (suite == DocumentSuite::kGm) {
    absl::StatusOr<KeyPair> key = GenerateSm2KeyPair();
    EXPECT_TRUE(key.ok());
    party.wrapper = *Sm2KeyWrapper::Create(key->public_key_pem);
    party.unwrapper = *Sm2KeyUnwrapper::Create(key->private_key_pem);
  } else {
    absl::StatusOr<KeyPair> key = GenerateEcP256KeyPair();
    EXPECT_TRUE(key.ok());
    party.wrapper = *EcdhP256KeyWrapper::Create(key->public_key_pem);
    party.unwrapper = *EcdhP256KeyUnwrapper::Create(key->private_key_pem);
  }
  return party;
}

std::string Pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return out;
}

std::string Encrypt(DocumentSuite suite, const std::vector<const Party*>& to, absl::string_view plaintext,
                    size_t piece = 700) {
  std::vector<DocumentRecipient> recipients;
  for (const Party* p : to) recipients.push_back({p->key_id, p->wrapper.get()});
  auto encryptor = DocumentEncryptor::Create(suite, recipients, kChunk);
  EXPECT_TRUE(encryptor.ok()) << encryptor.status();
  if (!encryptor.ok()) return "";
  std::string out = (*encryptor)->header();
  for (size_t i = 0; i < plaintext.size(); i += piece) {
    absl::StatusOr<std::string> chunk = (*encryptor)->Update(plaintext.substr(i, piece));
    EXPECT_TRUE(chunk.ok()) << chunk.status();
    out += chunk.value_or("");
  }
  absl::StatusOr<std::string> last = (*encryptor)->Finish();
  EXPECT_TRUE(last.ok()) << last.status();
  return out + last.value_or("");
}

struct Decrypted {
  std::string plaintext;
  absl::Status status;  // first error from Update, else Finish's result
};

Decrypted Decrypt(const Party& party, absl::string_view document, size_t piece = 333) {
  Decrypted result;
  auto decryptor = DocumentDecryptor::Create(party.key_id, *party.unwrapper);
  EXPECT_TRUE(decryptor.ok());
  for (size_t i = 0; i < document.size(); i += piece) {
    absl::StatusOr<std::string> out = (*decryptor)->Update(document.substr(i, piece));
    if (!out.ok()) {
      result.status = out.status();
      return result;
    }
    result.plaintext += *out;
  }
  result.status = (*decryptor)->Finish();
  return result;
}

class DocumentCryptoTest : public ::testing::TestWithParam<DocumentSuite> {};

TEST_P(DocumentCryptoTest, RoundTripsAtEveryChunkBoundary) {
  const DocumentSuite suite = GetParam();
  Party psb = MakeParty(suite, "510100.psb/enc-1");
  for (size_t size : {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk, 3 * kChunk + 17}) {
    SCOPED_TRACE(size);
    const std::string plaintext = Pattern(size);
    const std::string document = Encrypt(suite, {&psb}, plaintext);
    for (size_t piece : {size_t{1}, size_t{333}, document.size()}) {
      Decrypted out = Decrypt(psb, document, piece);
      ASSERT_TRUE(out.status.ok()) << out.status;
      EXPECT_EQ(out.plaintext, plaintext);
    }
  }
}

TEST_P(DocumentCryptoTest, EveryRecipientAndOnlyRecipientsCanDecrypt) {
  const DocumentSuite suite = GetParam();
  Party psb = MakeParty(suite, "510100.psb/enc-1");
  Party pro = MakeParty(suite, "510100.pro/enc-1");
  Party court = MakeParty(suite, "510100.court/enc-1");
  const std::string plaintext = Pattern(2500);
  const std::string document = Encrypt(suite, {&psb, &pro}, plaintext);
  EXPECT_EQ(Decrypt(psb, document).plaintext, plaintext);
  EXPECT_EQ(Decrypt(pro, document).plaintext, plaintext);
  Decrypted outsider = Decrypt(court, document);
  EXPECT_EQ(outsider.status.code(), absl::StatusCode::kNotFound) << outsider.status;
  EXPECT_TRUE(outsider.plaintext.empty());
  // The court's unwrapper under the PSB's key id: the wrapped key is not for it.
  Party impostor = MakeParty(suite, "510100.psb/enc-1");
  Decrypted wrong_key = Decrypt(impostor, document);
  EXPECT_EQ(wrong_key.status.code(), absl::StatusCode::kUnauthenticated) << wrong_key.status;
  EXPECT_TRUE(wrong_key.plaintext.empty());
}

TEST_P(DocumentCryptoTest, ModifiedHeaderOrChunkIsRefused) {
  const DocumentSuite suite = GetParam();
  Party psb = MakeParty(suite, "psb");
  const std::string plaintext = Pattern(3 * kChunk + 5);
  const std::string document = Encrypt(suite, {&psb}, plaintext);
  const size_t header_size = document.size() - (plaintext.size() + 4 * (5 + (suite == DocumentSuite::kGm ? 32 : 16)));
  // Flip one bit at a spread of positions: header (suite/length/recipient) and inside chunks.
  for (size_t pos : {size_t{5}, size_t{12}, header_size - 1, header_size, header_size + 3, header_size + 100,
                     document.size() - 1}) {
    SCOPED_TRACE(pos);
    std::string tampered = document;
    tampered[pos] ^= 0x10;
    Decrypted out = Decrypt(psb, tampered, tampered.size());
    EXPECT_FALSE(out.status.ok());
    EXPECT_NE(out.plaintext, plaintext);
  }
  // A tampered second chunk: the first chunk's plaintext is delivered (it authenticated), the
  // tampered chunk's is not.
  const size_t frame = kChunk + 5 + (suite == DocumentSuite::kGm ? 32 : 16);
  std::string tampered = document;
  tampered[header_size + frame + 50] ^= 0x01;
  auto decryptor = DocumentDecryptor::Create("psb", *psb.unwrapper);
  ASSERT_TRUE(decryptor.ok());
  absl::StatusOr<std::string> first = (*decryptor)->Update(absl::string_view(tampered).substr(0, header_size + frame));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, plaintext.substr(0, kChunk));
  absl::StatusOr<std::string> second = (*decryptor)->Update(absl::string_view(tampered).substr(header_size + frame, frame));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(second.status().message(), "chunk 1")) << second.status();
  // The decryptor stays failed.
  EXPECT_FALSE((*decryptor)->Update(absl::string_view(tampered).substr(header_size + 2 * frame)).ok());
  EXPECT_FALSE((*decryptor)->Finish().ok());
}

TEST_P(DocumentCryptoTest, ReorderedTruncatedOrExtendedDocumentsAreRefused) {
  const DocumentSuite suite = GetParam();
  Party psb = MakeParty(suite, "psb");
  const std::string plaintext = Pattern(3 * kChunk + 5);
  const std::string document = Encrypt(suite, {&psb}, plaintext);
  const size_t frame = kChunk + 5 + (suite == DocumentSuite::kGm ? 32 : 16);
  const size_t last_frame = 5 + 5 + (suite == DocumentSuite::kGm ? 32 : 16);
  const size_t header_size = document.size() - 3 * frame - last_frame;
  const std::string header = document.substr(0, header_size);
  const std::string c0 = document.substr(header_size, frame);
  const std::string c1 = document.substr(header_size + frame, frame);
  const std::string c2 = document.substr(header_size + 2 * frame, frame);
  const std::string c3 = document.substr(header_size + 3 * frame);
  ASSERT_EQ(c3.size(), last_frame);
  ASSERT_TRUE(Decrypt(psb, header + c0 + c1 + c2 + c3).status.ok());

  EXPECT_EQ(Decrypt(psb, header + c1 + c0 + c2 + c3).status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Decrypt(psb, header + c0 + c0 + c2 + c3).status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Decrypt(psb, header + c0 + c2 + c3).status.code(), absl::StatusCode::kUnauthenticated);
  // Truncation at a chunk boundary: every chunk present authenticates, but Finish refuses.
  Decrypted truncated = Decrypt(psb, header + c0 + c1 + c2);
  EXPECT_EQ(truncated.status.code(), absl::StatusCode::kUnauthenticated) << truncated.status;
  EXPECT_TRUE(absl::StrContains(truncated.status.message(), "truncated")) << truncated.status;
  EXPECT_EQ(Decrypt(psb, header + c0 + c1 + c2 + c3.substr(0, 7)).status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Decrypt(psb, header.substr(0, 20)).status.code(), absl::StatusCode::kUnauthenticated);
  // Marking a non-final chunk final (the flag is in the AAD) or appending after the final chunk.
  std::string early_final = header + c0;
  early_final[header_size] = 0x01;
  EXPECT_FALSE(Decrypt(psb, early_final).status.ok());
  EXPECT_EQ(Decrypt(psb, header + c0 + c1 + c2 + c3 + c3).status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Decrypt(psb, document + "x").status.code(), absl::StatusCode::kUnauthenticated);
  // A chunk from another document with the same recipient never fits.
  const std::string other = Encrypt(suite, {&psb}, plaintext);
  EXPECT_EQ(Decrypt(psb, header + other.substr(other.size() - 3 * frame - last_frame, frame) + c1 + c2 + c3)
                .status.code(),
            absl::StatusCode::kUnauthenticated);
}

INSTANTIATE_TEST_SUITE_P(Suites, DocumentCryptoTest, ::testing::Values(DocumentSuite::kIntl, DocumentSuite::kGm),
                         [](const ::testing::TestParamInfo<DocumentSuite>& info) {
                           return info.param == DocumentSuite::kGm ? std::string("Gm") : std::string("Intl");
                         });

TEST(DocumentCryptoConfigTest, RefusesBadRecipientsAndMismatchedSuites) {
  Party intl = MakeParty(DocumentSuite::kIntl, "a");
  Party gm = MakeParty(DocumentSuite::kGm, "b");
  EXPECT_EQ(DocumentEncryptor::Create(DocumentSuite::kIntl, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DocumentEncryptor::Create(DocumentSuite::kIntl, {{"b", gm.wrapper.get()}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DocumentEncryptor::Create(DocumentSuite::kIntl, {{"a", intl.wrapper.get()}, {"a", intl.wrapper.get()}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DocumentEncryptor::Create(DocumentSuite::kIntl, {{"", intl.wrapper.get()}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DocumentEncryptor::Create(DocumentSuite::kIntl, {{"a", intl.wrapper.get()}}, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A GM document given to an INTL unwrapper.
  const std::string document = Encrypt(DocumentSuite::kGm, {&gm}, "x");
  Party intl_as_b = MakeParty(DocumentSuite::kIntl, "b");
  EXPECT_EQ(Decrypt(intl_as_b, document).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decrypt(intl, "not a document at all").status.code(), absl::StatusCode::kInvalidArgument);
}

// What a key-less party (the gateway) reads from a stored document, and the size a sender
// declares before it encrypts.
TEST(DocumentHeaderTest, ParsesSuiteAndRecipientsAndPredictsTheEncryptedSize) {
  for (DocumentSuite suite : {DocumentSuite::kIntl, DocumentSuite::kGm}) {
    Party a = MakeParty(suite, "510100.psb/encryption-1");
    Party b = MakeParty(suite, "510100.pro/encryption-1");
    for (size_t size : {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk, 3 * kChunk + 500}) {
      const std::string document = Encrypt(suite, {&a, &b}, Pattern(size));
      auto header = ParseDocumentHeader(document);
      ASSERT_TRUE(header.ok()) << header.status();
      EXPECT_EQ(header->suite, suite);
      EXPECT_EQ(header->chunk_size, kChunk);
      EXPECT_EQ(header->recipient_key_ids, (std::vector<std::string>{a.key_id, b.key_id}));
      auto header_size = DocumentHeaderSize(document);
      ASSERT_TRUE(header_size.ok());
      EXPECT_EQ(*header_size, header->header_size);
      EXPECT_EQ(EncryptedDocumentSize(suite, header->header_size, kChunk, size), document.size()) << size;
      // A header cut short, or bytes that are not a document, are refused.
      EXPECT_FALSE(ParseDocumentHeader(absl::string_view(document).substr(0, header->header_size - 1)).ok());
    }
  }
  EXPECT_EQ(ParseDocumentHeader("%PDF-1.7 plain text of a document").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink::security
