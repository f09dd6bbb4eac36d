// Runs the Project Wycheproof ECDSA P-256/SHA-256 vectors in IEEE P1363 (r || s) form: each
// signature is converted with EcdsaSignatureP1363ToDer and checked by EcdsaP256Verifier.
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/ecdsa_p256.h"
#include "vector_files.h"

namespace caselink::security {
namespace {

using testing::ReadVectorFile;
using testing::Unhex;

constexpr int kExpectedTests = 262;
constexpr int kExpectedValid = 173;
constexpr int kExpectedInvalid = 89;

TEST(WycheproofEcdsaP1363Test, Secp256r1Sha256) {
  nlohmann::json root =
      nlohmann::json::parse(ReadVectorFile("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"));
  ASSERT_EQ(root.at("numberOfTests").get<int>(), kExpectedTests);
  int valid = 0;
  int invalid = 0;
  for (const nlohmann::json& group : root.at("testGroups")) {
    ASSERT_EQ(group.at("type").get<std::string>(), "EcdsaP1363Verify");
    ASSERT_EQ(group.at("sha").get<std::string>(), "SHA-256");
    auto verifier =
        EcdsaP256Verifier::CreateFromUncompressedPoint(Unhex(group.at("publicKey").at("uncompressed")));
    for (const nlohmann::json& test : group.at("tests")) {
      const int id = test.at("tcId").get<int>();
      const std::string result = test.at("result").get<std::string>();
      ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id;
      result == "valid" ? ++valid : ++invalid;
      if (!verifier.ok()) {
        EXPECT_EQ(result, "invalid") << "tcId " << id << ": key rejected: " << verifier.status();
        continue;
      }
      absl::StatusOr<std::string> der = EcdsaSignatureP1363ToDer(Unhex(test.at("sig")));
      absl::Status status = der.ok() ? (*verifier)->Verify(*der, Unhex(test.at("msg"))) : der.status();
      if (result == "valid") {
        EXPECT_TRUE(status.ok()) << "tcId " << id << " (" << test.at("comment") << "): " << status;
        // And back: DER to P1363 reproduces the vector's bytes.
        absl::StatusOr<std::string> p1363 = EcdsaSignatureDerToP1363(*der);
        ASSERT_TRUE(p1363.ok());
        EXPECT_EQ(*p1363, Unhex(test.at("sig"))) << "tcId " << id;
      } else {
        EXPECT_FALSE(status.ok()) << "tcId " << id << " (" << test.at("comment") << ") must not verify";
      }
    }
  }
  EXPECT_EQ(valid, kExpectedValid);
  EXPECT_EQ(invalid, kExpectedInvalid);
}

}  // namespace
}  // namespace caselink::security
