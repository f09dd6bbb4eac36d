// Runs the Project Wycheproof HKDF-SHA-256 vectors: valid derivations match, and the requested
// sizes beyond 255 * 32 bytes are refused.
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/digest.h"
#include "security/hkdf.h"
#include "vector_files.h"

namespace caselink::security {
namespace {

using testing::ReadVectorFile;
using testing::Unhex;

constexpr int kExpectedTests = 86;
constexpr int kExpectedValid = 83;
constexpr int kExpectedInvalid = 3;

TEST(WycheproofHkdfTest, Sha256Vectors) {
  nlohmann::json root = nlohmann::json::parse(ReadVectorFile("wycheproof/hkdf_sha256_test.json"));
  ASSERT_EQ(root.at("algorithm").get<std::string>(), "HKDF-SHA-256");
  ASSERT_EQ(root.at("numberOfTests").get<int>(), kExpectedTests);
  int valid = 0;
  int invalid = 0;
  for (const nlohmann::json& group : root.at("testGroups")) {
    for (const nlohmann::json& test : group.at("tests")) {
      const int id = test.at("tcId").get<int>();
      const std::string result = test.at("result").get<std::string>();
      const size_t size = test.at("size").get<size_t>();
      absl::StatusOr<std::string> okm =
          HkdfSha256(Unhex(test.at("ikm")), Unhex(test.at("salt")), Unhex(test.at("info")), size);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(okm.ok()) << "tcId " << id << ": " << okm.status();
        EXPECT_EQ(HexEncode(*okm), test.at("okm").get<std::string>()) << "tcId " << id;
      } else {
        ASSERT_EQ(result, "invalid");
        ++invalid;
        EXPECT_EQ(okm.status().code(), absl::StatusCode::kInvalidArgument)
            << "tcId " << id << " (" << test.at("comment") << ", size " << size << ") must be refused";
      }
    }
  }
  EXPECT_EQ(valid, kExpectedValid);
  EXPECT_EQ(invalid, kExpectedInvalid);
}

}  // namespace
}  // namespace caselink::security
