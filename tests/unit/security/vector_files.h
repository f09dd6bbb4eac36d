// Test helpers for reading vector files: whole files, hex, and OpenSSL's evp_test stanza format
// (used by the SM2/SM3 vectors copied from OpenSSL's test suite).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace caselink::security::testing {

// Contents of `relative_path` under the vectors directory; empty (and a test failure) if
// the file cannot be read.
std::string ReadVectorFile(const std::string& relative_path);

// Hex to bytes; records a test failure on malformed hex.
std::string Unhex(const std::string& hex);

// One blank-line-separated stanza of an OpenSSL evp_test file, e.g.
//   Digest = SM3 / Input = 616263 / Output = 66C7...
// `keyword` is the first key that names a test ("Digest", "MAC", "Verify", ...), not
// "Availablein" or "Title". A "PrivateKey = name" stanza carries its PEM block in `pem`.
struct EvpStanza {
  std::string keyword;
  std::string keyword_value;
  std::vector<std::pair<std::string, std::string>> fields;  // in file order, keyword included
  std::string pem;
  int first_line = 0;

  // The first value of `key`, or "" when absent.
  std::string Get(const std::string& key) const;
  bool Has(const std::string& key) const;
};

std::vector<EvpStanza> ParseEvpTestFile(const std::string& text);

// An evp_test value as bytes: "quoted" text is taken literally, anything else is hex.
std::string EvpValueBytes(const std::string& value);

}  // namespace caselink::security::testing
