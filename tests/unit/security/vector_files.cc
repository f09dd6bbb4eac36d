// Reads vector files and parses OpenSSL's evp_test stanza format for the security tests.
#include "vector_files.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "security/digest.h"

namespace caselink::security::testing {
namespace {

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

bool IsModifierKey(const std::string& key) { return key == "Availablein" || key == "FIPSversion"; }

}  // namespace

std::string ReadVectorFile(const std::string& relative_path) {
  const std::string path = std::string(CASELINK_VECTORS_DIR) + "/" + relative_path;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << "cannot open vector file " << path;
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string Unhex(const std::string& hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << "bad hex in vector file: " << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string EvpStanza::Get(const std::string& key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return v;
  }
  return "";
}

bool EvpStanza::Has(const std::string& key) const {
  for (const auto& field : fields) {
    if (field.first == key) return true;
  }
  return false;
}

std::vector<EvpStanza> ParseEvpTestFile(const std::string& text) {
  std::vector<EvpStanza> stanzas;
  EvpStanza current;
  bool in_pem = false;
  int line_number = 0;
  auto flush = [&] {
    if (!current.fields.empty()) stanzas.push_back(std::move(current));
    current = EvpStanza();
  };
  std::istringstream lines(text);
  std::string raw;
  while (std::getline(lines, raw)) {
    ++line_number;
    const std::string line = Trim(raw);
    if (in_pem) {
      current.pem += line + "\n";
      if (line.rfind("-----END", 0) == 0) in_pem = false;
      continue;
    }
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      ADD_FAILURE() << "line " << line_number << " is not 'key = value': " << line;
      continue;
    }
    const std::string key = Trim(line.substr(0, eq));
    const std::string value = Trim(line.substr(eq + 1));
    if (current.fields.empty()) current.first_line = line_number;
    current.fields.emplace_back(key, value);
    if (current.keyword.empty() && !IsModifierKey(key)) {
      current.keyword = key;
      current.keyword_value = value;
    }
    if (key == "PrivateKey" || key == "PublicKey") in_pem = true;
  }
  flush();
  return stanzas;
}

std::string EvpValueBytes(const std::string& value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return Unhex(value);
}

}  // namespace caselink::security::testing
