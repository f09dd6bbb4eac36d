// Runs every Project Wycheproof ECDSA P-256/SHA-256 (DER) vector against EcdsaP256Verifier.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/digest.h"
#include "security/ecdsa_p256.h"

namespace caselink::security {
namespace {

constexpr char kVectorFile[] = CASELINK_VECTORS_DIR "/wycheproof/ecdsa_secp256r1_sha256_test.json";
// Pinned so a changed or truncated vector file cannot silently shrink coverage.
constexpr int kExpectedTests = 484;
constexpr int kExpectedValid = 174;
constexpr int kExpectedInvalid = 310;

std::string Unhex(const std::string& hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << "bad hex in vector file: " << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

TEST(WycheproofEcdsaTest, Secp256r1Sha256Der) {
  std::ifstream in(kVectorFile);
  ASSERT_TRUE(in.is_open()) << "cannot open " << kVectorFile;
  nlohmann::json root = nlohmann::json::parse(in);
  ASSERT_EQ(root.at("algorithm").get<std::string>(), "ECDSA");
  ASSERT_EQ(root.at("numberOfTests").get<int>(), kExpectedTests);

  int run = 0;
  int valid = 0;
  int invalid = 0;
  for (const nlohmann::json& group : root.at("testGroups")) {
    ASSERT_EQ(group.at("type").get<std::string>(), "EcdsaVerify");
    ASSERT_EQ(group.at("sha").get<std::string>(), "SHA-256");
    ASSERT_EQ(group.at("publicKey").at("curve").get<std::string>(), "secp256r1");
    auto verifier =
        EcdsaP256Verifier::CreateFromUncompressedPoint(Unhex(group.at("publicKey").at("uncompressed")));
    for (const nlohmann::json& test : group.at("tests")) {
      const int id = test.at("tcId").get<int>();
      const std::string result = test.at("result").get<std::string>();
      const std::string comment = test.at("comment").get<std::string>();
      ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id << " has result " << result;
      ++run;
      if (result == "valid") {
        ++valid;
      } else {
        ++invalid;
      }
      if (!verifier.ok()) {
        EXPECT_EQ(result, "invalid") << "tcId " << id << " (" << comment
                                     << "): key rejected but test is valid: " << verifier.status();
        continue;
      }
      absl::Status status = (*verifier)->Verify(Unhex(test.at("sig")), Unhex(test.at("msg")));
      if (result == "valid") {
        EXPECT_TRUE(status.ok()) << "tcId " << id << " (" << comment << "): " << status;
      } else {
        EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
            << "tcId " << id << " (" << comment << ") must not verify: " << status;
      }
    }
  }
  EXPECT_EQ(run, kExpectedTests);
  EXPECT_EQ(valid, kExpectedValid);
  EXPECT_EQ(invalid, kExpectedInvalid);
}

}  // namespace
}  // namespace caselink::security
