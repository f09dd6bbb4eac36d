// CheckDocumentRefs with a DocumentFactsCache over a real file blob store: a document found once
// is answered from memory (no store access) with the same checks applied; a document that is not
// stored, never uploaded or deleted before its first use, is refused and never remembered; the
// cache stays within its capacity.
#include "gateway/document_facts_cache.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "adapters/blob/blob_store.h"
#include "gateway/crypto_profile.h"
#include "gateway/document_checks.h"
#include "gtest/gtest.h"
#include "security/digest.h"
#include "security/document_crypto.h"
#include "security/ecdh_p256.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

// Passes everything to the real store and counts the reads Submit would make.
class CountingBlobStore : public BlobStore {
 public:
  explicit CountingBlobStore(BlobStore& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<BlobWriter>> BeginWrite() override { return inner_.BeginWrite(); }
  absl::StatusOr<uint64_t> Size(absl::string_view digest_hex) const override {
    ++reads_;
    return inner_.Size(digest_hex);
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view digest_hex) const override {
    ++reads_;
    ++opens_;
    return inner_.Open(digest_hex);
  }
  absl::Status AddIndex(security::DigestAlgorithm algorithm, absl::string_view digest_hex,
                        absl::string_view sha256_hex) override {
    return inner_.AddIndex(algorithm, digest_hex, sha256_hex);
  }
  absl::StatusOr<std::string> Resolve(security::DigestAlgorithm algorithm, absl::string_view digest_hex) const override {
    ++reads_;
    return inner_.Resolve(algorithm, digest_hex);
  }
  int reads() const { return reads_; }
  int opens() const { return opens_; }

 private:
  BlobStore& inner_;
  mutable int reads_ = 0;
  mutable int opens_ = 0;
};

class DocumentFactsCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir();
    auto store = OpenFileBlobStore(root_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    blobs_ = std::make_unique<CountingBlobStore>(*store_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string Upload(const std::string& bytes) {
    auto writer = store_->BeginWrite();
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->Append(bytes).ok());
    auto hex = (*writer)->Finish();
    EXPECT_TRUE(hex.ok()) << hex.status();
    return *hex;
  }

  std::filesystem::path BlobPath(const std::string& hex) const {
    return std::filesystem::path(root_) / "sha256" / hex.substr(0, 2) / hex;
  }

  static v1::DocumentRef PlainRef(const std::string& title, const std::string& bytes, uint64_t size) {
    v1::DocumentRef ref;
    ref.set_type(v1::TRANSFER_LETTER);
    ref.set_title(title);
    ref.set_media_type("application/pdf");
    ref.set_size_bytes(size);
    ref.mutable_digest()->set_algorithm(v1::SHA256);
    ref.mutable_digest()->set_value(security::Sha256(bytes));
    return ref;
  }

  static v1::Envelope With(std::vector<v1::DocumentRef> refs) {
    v1::Envelope e;
    for (auto& ref : refs) *e.add_documents() = std::move(ref);
    return e;
  }

  absl::Status Check(const v1::Envelope& e, DocumentFactsCache& cache,
                     std::vector<ConfidentialDocument>* confidential = nullptr) {
    return CheckDocumentRefs(e, *blobs_, v1::INTL, confidential, &cache);
  }

  std::string root_;
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<CountingBlobStore> blobs_;
};

TEST_F(DocumentFactsCacheTest, SecondCheckOfAStoredDocumentAsksTheStoreNothing) {
  const std::string bytes = "transfer letter, page 1";
  Upload(bytes);
  DocumentFactsCache cache;
  const v1::Envelope e = With({PlainRef("letter", bytes, bytes.size())});

  ASSERT_TRUE(Check(e, cache).ok());
  EXPECT_EQ(blobs_->reads(), 1);
  EXPECT_EQ(cache.size(), 1u);

  ASSERT_TRUE(Check(e, cache).ok());
  EXPECT_EQ(blobs_->reads(), 1) << "the remembered size was not used";

  // The remembered size is still checked against what the envelope signed.
  const absl::Status wrong = Check(With({PlainRef("letter", bytes, bytes.size() + 1)}), cache);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("is 23 bytes as stored"), std::string::npos) << wrong;
  EXPECT_EQ(blobs_->reads(), 1);
}

TEST_F(DocumentFactsCacheTest, WithoutACacheEveryCheckAsksTheStore) {
  const std::string bytes = "seized items list";
  Upload(bytes);
  const v1::Envelope e = With({PlainRef("list", bytes, bytes.size())});
  ASSERT_TRUE(CheckDocumentRefs(e, *blobs_, v1::INTL, nullptr).ok());
  ASSERT_TRUE(CheckDocumentRefs(e, *blobs_, v1::INTL, nullptr).ok());
  EXPECT_EQ(blobs_->reads(), 2);
}

TEST_F(DocumentFactsCacheTest, NeverUploadedIsRefusedEachTimeAndAcceptedOnceUploaded) {
  const std::string bytes = "investigation report";
  DocumentFactsCache cache;
  const v1::Envelope e = With({PlainRef("report", bytes, bytes.size())});

  for (int attempt = 1; attempt <= 2; ++attempt) {
    const absl::Status refused = Check(e, cache);
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
    EXPECT_NE(refused.message().find("has not been uploaded"), std::string::npos) << refused;
    EXPECT_EQ(blobs_->reads(), attempt) << "a missing document must be looked up again, not remembered";
    EXPECT_EQ(cache.size(), 0u);
  }

  Upload(bytes);
  EXPECT_TRUE(Check(e, cache).ok());
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(DocumentFactsCacheTest, DeletedBeforeItsFirstUseIsRefused) {
  const std::string bytes = "inspection record";
  const std::string hex = Upload(bytes);
  ASSERT_TRUE(std::filesystem::remove(BlobPath(hex)));
  DocumentFactsCache cache;
  const absl::Status refused = Check(With({PlainRef("record", bytes, bytes.size())}), cache);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find(hex), std::string::npos) << refused;
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DocumentFactsCacheTest, OneMissingDocumentRefusesTheEnvelopeWhileTheStoredOnesAreRemembered) {
  const std::string stored = "stored";
  const std::string missing = "never uploaded";
  Upload(stored);
  DocumentFactsCache cache;
  const v1::Envelope e = With({PlainRef("a", stored, stored.size()), PlainRef("b", missing, missing.size())});
  EXPECT_EQ(Check(e, cache).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(Check(e, cache).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(blobs_->reads(), 3) << "the stored document from memory, the missing one from the store each time";
}

TEST_F(DocumentFactsCacheTest, ConfidentialHeaderIsReadOnceAndItsRecipientsStillChecked) {
  auto key = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(key.ok());
  auto wrapper = security::EcdhP256KeyWrapper::Create(key->public_key_pem);
  ASSERT_TRUE(wrapper.ok()) << wrapper.status();
  auto encryptor = security::DocumentEncryptor::Create(security::DocumentSuite::kIntl, {{"psb-enc-1", wrapper->get()}});
  ASSERT_TRUE(encryptor.ok()) << encryptor.status();
  const std::string plaintext = "witness statement";
  std::string ciphertext = (*encryptor)->header();
  ciphertext += *(*encryptor)->Update(plaintext);
  ciphertext += *(*encryptor)->Finish();
  Upload(ciphertext);

  v1::DocumentRef ref = PlainRef("statement", ciphertext, ciphertext.size());
  ref.set_confidential(true);
  ref.set_encryption_suite(ToProtoSuite(security::DocumentSuite::kIntl));
  ref.mutable_plaintext_digest()->set_algorithm(v1::SHA256);
  ref.mutable_plaintext_digest()->set_value(security::Sha256(plaintext));
  ref.add_recipient_key_ids("psb-enc-1");

  DocumentFactsCache cache;
  std::vector<ConfidentialDocument> first;
  ASSERT_TRUE(Check(With({ref}), cache, &first).ok());
  EXPECT_EQ(blobs_->opens(), 1);
  const int reads_after_first = blobs_->reads();

  std::vector<ConfidentialDocument> second;
  ASSERT_TRUE(Check(With({ref}), cache, &second).ok());
  EXPECT_EQ(blobs_->reads(), reads_after_first) << "the remembered header was not used";
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].title, "statement");
  EXPECT_EQ(second[0].recipient_key_ids, std::vector<std::string>{"psb-enc-1"});

  // Recipients the stored header does not hold are refused from memory too.
  ref.add_recipient_key_ids("pro-enc-1");
  const absl::Status refused = Check(With({ref}), cache);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("is stored encrypted to key ids [psb-enc-1]"), std::string::npos) << refused;
  EXPECT_EQ(blobs_->reads(), reads_after_first);
}

TEST_F(DocumentFactsCacheTest, PlaintextClaimingToBeConfidentialIsRefusedEveryTime) {
  const std::string bytes = "not encrypted at all";
  Upload(bytes);
  v1::DocumentRef ref = PlainRef("plain", bytes, bytes.size());
  ref.set_confidential(true);
  ref.set_encryption_suite(ToProtoSuite(security::DocumentSuite::kIntl));
  ref.mutable_plaintext_digest()->set_algorithm(v1::SHA256);
  ref.mutable_plaintext_digest()->set_value(security::Sha256(bytes));
  ref.add_recipient_key_ids("psb-enc-1");
  DocumentFactsCache cache;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const absl::Status refused = Check(With({ref}), cache);
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
    EXPECT_NE(refused.message().find("is not stored as a CaseLink encrypted document"), std::string::npos) << refused;
    EXPECT_EQ(blobs_->opens(), attempt) << "a header that does not parse is not remembered";
  }
}

TEST_F(DocumentFactsCacheTest, HoldsAtMostItsCapacityAndForgetsTheOldestFirst) {
  DocumentFactsCache cache(2);
  std::vector<v1::DocumentRef> refs;
  for (const std::string bytes : {"one", "two", "three"}) {
    Upload(bytes);
    refs.push_back(PlainRef(bytes, bytes, bytes.size()));
  }
  ASSERT_TRUE(Check(With(refs), cache).ok());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(DocumentFactsCache::Key("sha256", security::Sha256("one"))), nullptr);
  EXPECT_NE(cache.Find(DocumentFactsCache::Key("sha256", security::Sha256("three"))), nullptr);
  EXPECT_EQ(blobs_->reads(), 3);
  // The remembered ones cost nothing; the forgotten one is looked up again and pushes out the
  // next oldest.
  ASSERT_TRUE(Check(With({refs[1], refs[2]}), cache).ok());
  EXPECT_EQ(blobs_->reads(), 3);
  ASSERT_TRUE(Check(With({refs[0]}), cache).ok());
  EXPECT_EQ(blobs_->reads(), 4);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(DocumentFactsCache::Key("sha256", security::Sha256("two"))), nullptr);
}

}  // namespace
}  // namespace caselink
