// Runs every Project Wycheproof Ed25519 vector against Ed25519Verifier: every valid signature
// verifies and every invalid one is refused.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/ed25519.h"
#include "vector_files.h"

namespace caselink::security {
namespace {

using testing::ReadVectorFile;
using testing::Unhex;

// Pinned so a changed or truncated vector file cannot silently shrink coverage.
constexpr int kExpectedTests = 151;
constexpr int kExpectedValid = 88;
constexpr int kExpectedInvalid = 63;

TEST(WycheproofEd25519Test, AllVectors) {
  nlohmann::json root = nlohmann::json::parse(ReadVectorFile("wycheproof/ed25519_test.json"));
  ASSERT_EQ(root.at("algorithm").get<std::string>(), "EDDSA");
  ASSERT_EQ(root.at("numberOfTests").get<int>(), kExpectedTests);
  int valid = 0;
  int invalid = 0;
  for (const nlohmann::json& group : root.at("testGroups")) {
    ASSERT_EQ(group.at("type").get<std::string>(), "EddsaVerify");
    ASSERT_EQ(group.at("publicKey").at("curve").get<std::string>(), "edwards25519");
    auto verifier = Ed25519Verifier::CreateFromRawPublicKey(Unhex(group.at("publicKey").at("pk")));
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    // The PEM and DER forms of the same key must verify identically.
    auto from_pem = Ed25519Verifier::CreateFromPublicKeyPem(group.at("publicKeyPem").get<std::string>());
    ASSERT_TRUE(from_pem.ok()) << from_pem.status();
    auto from_der = Ed25519Verifier::CreateFromPublicKeyDer(Unhex(group.at("publicKeyDer")));
    ASSERT_TRUE(from_der.ok()) << from_der.status();
    for (const nlohmann::json& test : group.at("tests")) {
      const int id = test.at("tcId").get<int>();
      const std::string result = test.at("result").get<std::string>();
      const std::string comment = test.at("comment").get<std::string>();
      ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id << " has result " << result;
      const std::string sig = Unhex(test.at("sig"));
      const std::string msg = Unhex(test.at("msg"));
      absl::Status status = (*verifier)->Verify(sig, msg);
      if (result == "valid") {
        ++valid;
        EXPECT_TRUE(status.ok()) << "tcId " << id << " (" << comment << "): " << status;
      } else {
        ++invalid;
        EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
            << "tcId " << id << " (" << comment << ") must not verify: " << status;
      }
      EXPECT_EQ((*from_pem)->Verify(sig, msg).ok(), status.ok()) << "tcId " << id;
      EXPECT_EQ((*from_der)->Verify(sig, msg).ok(), status.ok()) << "tcId " << id;
    }
  }
  EXPECT_EQ(valid, kExpectedValid);
  EXPECT_EQ(invalid, kExpectedInvalid);
}

}  // namespace
}  // namespace caselink::security
