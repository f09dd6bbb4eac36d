// Runs the Project Wycheproof AES-GCM vectors with 96-bit IVs (the only IV size AesGcm takes)
// for 256-bit keys through AesGcm::Create and for 128/192-bit keys through CreateAnyKeySize.
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/aes_gcm.h"
#include "security/digest.h"
#include "vector_files.h"

namespace caselink::security {
namespace {

using testing::ReadVectorFile;
using testing::Unhex;

// Counts of the ivSize == 96 vectors, per key size: {valid, invalid}. Pinned so a changed
// vector file cannot silently shrink coverage. Tests with other IV sizes (0 to 2056 bits) are
// counted and must be refused by the API instead.
const std::map<int, std::pair<int, int>> kExpected96 = {{128, {40, 27}}, {192, {37, 27}}, {256, {39, 27}}};
constexpr int kExpectedTotal = 316;
constexpr int kExpectedOtherIvSizes = 316 - (40 + 27 + 37 + 27 + 39 + 27);

TEST(WycheproofAesGcmTest, Iv96Vectors) {
  nlohmann::json root = nlohmann::json::parse(ReadVectorFile("wycheproof/aes_gcm_test.json"));
  ASSERT_EQ(root.at("algorithm").get<std::string>(), "AES-GCM");
  ASSERT_EQ(root.at("numberOfTests").get<int>(), kExpectedTotal);
  std::map<int, std::pair<int, int>> counts;
  int other_iv_sizes = 0;
  for (const nlohmann::json& group : root.at("testGroups")) {
    ASSERT_EQ(group.at("tagSize").get<int>(), 128);
    const int key_bits = group.at("keySize").get<int>();
    const int iv_bits = group.at("ivSize").get<int>();
    for (const nlohmann::json& test : group.at("tests")) {
      const int id = test.at("tcId").get<int>();
      const std::string result = test.at("result").get<std::string>();
      ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id;
      const std::string key = Unhex(test.at("key"));
      const std::string iv = Unhex(test.at("iv"));
      const std::string aad = Unhex(test.at("aad"));
      const std::string msg = Unhex(test.at("msg"));
      const std::string sealed = Unhex(test.at("ct")) + Unhex(test.at("tag"));
      auto aead = key_bits == 256 ? AesGcm::Create(key) : AesGcm::CreateAnyKeySize(key);
      ASSERT_TRUE(aead.ok()) << "tcId " << id << ": " << aead.status();
      if (iv_bits != 96) {
        ++other_iv_sizes;
        EXPECT_EQ((*aead)->DecryptWithIv(iv, sealed, aad).status().code(), absl::StatusCode::kInvalidArgument)
            << "tcId " << id << ": a " << iv_bits << "-bit IV must be refused";
        continue;
      }
      auto& [valid, invalid] = counts[key_bits];
      absl::StatusOr<std::string> opened = (*aead)->DecryptWithIv(iv, sealed, aad);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(opened.ok()) << "tcId " << id << ": " << opened.status();
        EXPECT_EQ(HexEncode(*opened), HexEncode(msg)) << "tcId " << id;
        absl::StatusOr<std::string> encrypted = (*aead)->EncryptWithIv(iv, msg, aad);
        ASSERT_TRUE(encrypted.ok()) << "tcId " << id << ": " << encrypted.status();
        EXPECT_EQ(HexEncode(*encrypted), HexEncode(sealed)) << "tcId " << id;
      } else {
        ++invalid;
        EXPECT_EQ(opened.status().code(), absl::StatusCode::kUnauthenticated)
            << "tcId " << id << " (" << test.at("comment") << ") must not decrypt";
      }
    }
  }
  EXPECT_EQ(counts, kExpected96);
  EXPECT_EQ(other_iv_sizes, kExpectedOtherIvSizes);
}

}  // namespace
}  // namespace caselink::security
