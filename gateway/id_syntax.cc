// Id syntax check; see id_syntax.h. Runs on every Submit, so a table lookup per
// byte instead of std::regex (which allocates and backtracks).
#include "gateway/id_syntax.h"

#include <array>

namespace caselink {
namespace {

constexpr std::array<bool, 256> MakeIdCharTable() {
  std::array<bool, 256> table{};
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (unsigned char c : {'.', '_', ':', '-'}) table[c] = true;
  return table;
}

constexpr std::array<bool, 256> kIdChar = MakeIdCharTable();

}  // namespace

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id) {
    if (!kIdChar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace caselink
