// Known-answer and consistency tests for SHA-256 and the hex helpers.
#include "security/digest.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace caselink::security {
namespace {

TEST(Sha256Test, AbcKnownAnswer) {
  // FIPS 180-2 appendix B.1.
  EXPECT_EQ(HexEncode(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, EmptyStringKnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, StreamingEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 31 + 7));
  Sha256Hasher hasher;
  // Uneven chunk sizes cross the 64-byte block boundary in every possible way.
  size_t offset = 0;
  for (size_t chunk = 1; offset < data.size(); chunk = chunk % 131 + 1) {
    size_t n = std::min(chunk, data.size() - offset);
    hasher.Update(absl::string_view(data).substr(offset, n));
    offset += n;
  }
  hasher.Update("");
  EXPECT_EQ(hasher.Finish(), Sha256(data));
}

TEST(Sha256Test, DigestIs32Bytes) { EXPECT_EQ(Sha256("anything").size(), 32u); }

TEST(HexTest, RoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  std::string hex = HexEncode(bytes);
  EXPECT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  absl::StatusOr<std::string> decoded = HexDecode(hex);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, bytes);
}

TEST(HexTest, DecodeAcceptsUppercase) {
  absl::StatusOr<std::string> decoded = HexDecode("DEADbeef");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, "\xde\xad\xbe\xef");
}

TEST(HexTest, EmptyRoundTrip) {
  EXPECT_EQ(HexEncode(""), "");
  absl::StatusOr<std::string> decoded = HexDecode("");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "");
}

TEST(HexTest, RefusesBadHex) {
  EXPECT_EQ(HexDecode("abc").status().code(), absl::StatusCode::kInvalidArgument);   // odd length
  EXPECT_EQ(HexDecode("zz").status().code(), absl::StatusCode::kInvalidArgument);    // not hex
  EXPECT_EQ(HexDecode("0g").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("00 1").status().code(), absl::StatusCode::kInvalidArgument);  // whitespace
  EXPECT_EQ(HexDecode("0x00").status().code(), absl::StatusCode::kInvalidArgument);  // prefix
}

}  // namespace
}  // namespace caselink::security
