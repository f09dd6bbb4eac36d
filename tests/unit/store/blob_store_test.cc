// The file blob store's SM3 index: blobs stay named by SHA-256, and a GM deployment finds them
// by the SM3 of the same bytes, across a restart.
#include <filesystem>

#include <gtest/gtest.h>

#include "adapters/blob/blob_store.h"
#include "security/digest.h"

namespace caselink {
namespace {

namespace fs = std::filesystem;

class BlobStoreTest : public ::testing::Test {
 protected:
  BlobStoreTest() {
    std::string tmpl = (fs::temp_directory_path() / "caselink-blob-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
  }
  ~BlobStoreTest() override { fs::remove_all(root_); }

  std::string Put(BlobStore& store, const std::string& bytes) {
    auto writer = store.BeginWrite();
    EXPECT_TRUE(writer.ok());
    EXPECT_TRUE((*writer)->Append(bytes).ok());
    auto hex = (*writer)->Finish();
    EXPECT_TRUE(hex.ok());
    return *hex;
  }

  std::string root_;
};

TEST_F(BlobStoreTest, ResolvesSm3ToTheSha256NamedBlobAcrossReopen) {
  const std::string bytes = "证据材料 evidence";
  const std::string sha = security::HexEncode(security::Sha256(bytes));
  const std::string sm3 = security::HexEncode(security::Sm3(bytes));
  {
    auto store = OpenFileBlobStore(root_);
    ASSERT_TRUE(store.ok());
    EXPECT_EQ(Put(**store, bytes), sha);
    EXPECT_EQ((*store)->Resolve(security::DigestAlgorithm::kSm3, sm3).status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE((*store)->AddIndex(security::DigestAlgorithm::kSm3, sm3, sha).ok());
  }
  auto store = OpenFileBlobStore(root_);
  ASSERT_TRUE(store.ok());
  auto resolved = (*store)->Resolve(security::DigestAlgorithm::kSm3, sm3);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, sha);
  auto same = (*store)->Resolve(security::DigestAlgorithm::kSha256, sha);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, sha);
  // The SHA-256 name is not an SM3 name, and an unknown digest is not found.
  EXPECT_EQ((*store)->Resolve(security::DigestAlgorithm::kSm3, sha).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Resolve(security::DigestAlgorithm::kSha256, sm3).status().code(), absl::StatusCode::kNotFound);
  // An index entry for a blob that is not stored is refused.
  const std::string missing = security::HexEncode(security::Sha256("nothing"));
  EXPECT_EQ((*store)->AddIndex(security::DigestAlgorithm::kSm3, security::HexEncode(security::Sm3("nothing")), missing).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->AddIndex(security::DigestAlgorithm::kSm3, "not hex", sha).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink
