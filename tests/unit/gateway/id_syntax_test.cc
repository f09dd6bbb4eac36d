// IsValidId accepts exactly the language of the pattern the pipeline used before it,
// ^[A-Za-z0-9._:-]{1,128}$ under std::regex: compared on a table of edge cases and on
// every single byte.
#include "gateway/id_syntax.h"

#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace caselink {
namespace {

bool RegexAccepts(const std::string& id) {
  static const std::regex pattern("^[A-Za-z0-9._:-]{1,128}$");
  return std::regex_match(id, pattern);
}

std::string Printable(const std::string& id) {
  std::string out;
  for (unsigned char c : id) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

struct Case {
  std::string id;
  bool valid;
};

std::vector<Case> Table() {
  std::vector<Case> cases = {
      {"", false},
      {"a", true},
      {"Z", true},
      {"0", true},
      {"9", true},
      {".", true},
      {"_", true},
      {":", true},
      {"-", true},
      {"env-2024:510100.epb_0001", true},
      {"ABCxyz019", true},
      // Neighbours of every class boundary in ASCII.
      {"@", false},  // before 'A'
      {"[", false},  // after 'Z'
      {"`", false},  // before 'a'
      {"{", false},  // after 'z'
      {"/", false},  // before '0' (and after '.')
      {";", false},  // after ':' (which follows '9')
      {",", false},  // before '-'
      {"^", false},  // before '_'
      {"a b", false},
      {" a", false},
      {"a ", false},
      {"a\n", false},
      {"\na", false},
      {"a$", false},
      {"a*", false},
      {"a+b", false},
      {"a\\b", false},
      {"案件", false},  // UTF-8 bytes >= 0x80
      {"\x80", false},
      {"\xff", false},
      {std::string("a\0b", 3), false},
      {std::string("\0", 1), false},
      {std::string(127, 'x'), true},
      {std::string(128, 'x'), true},
      {std::string(129, 'x'), false},
      {std::string(128, '-'), true},
      {std::string(127, 'x') + "!", false},
      {"!" + std::string(127, 'x'), false},
      {std::string(1000, 'a'), false},
  };
  return cases;
}

TEST(IdSyntaxTest, TableAgreesWithTheRegexAndTheExpectedAnswer) {
  for (const Case& c : Table()) {
    EXPECT_EQ(IsValidId(c.id), c.valid) << "id '" << Printable(c.id) << "' (" << c.id.size() << " bytes)";
    EXPECT_EQ(IsValidId(c.id), RegexAccepts(c.id)) << "id '" << Printable(c.id) << "'";
  }
}

TEST(IdSyntaxTest, EverySingleByteAgreesWithTheRegex) {
  int accepted = 0;
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    const std::string inside = "a" + one + "b";
    const std::string at_limit = std::string(127, 'a') + one;
    EXPECT_EQ(IsValidId(one), RegexAccepts(one)) << "byte " << b;
    EXPECT_EQ(IsValidId(inside), RegexAccepts(inside)) << "byte " << b << " inside";
    EXPECT_EQ(IsValidId(at_limit), RegexAccepts(at_limit)) << "byte " << b << " at the 128th position";
    if (IsValidId(one)) ++accepted;
  }
  EXPECT_EQ(accepted, 26 + 26 + 10 + 4);
}

TEST(IdSyntaxTest, EveryLengthAroundTheLimitAgreesWithTheRegex) {
  for (size_t n = 0; n <= kMaxIdLength + 2; ++n) {
    const std::string id(n, 'k');
    EXPECT_EQ(IsValidId(id), RegexAccepts(id)) << n << " characters";
    EXPECT_EQ(IsValidId(id), n >= 1 && n <= 128) << n << " characters";
  }
}

}  // namespace
}  // namespace caselink
