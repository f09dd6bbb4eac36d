// caselinkctl decrypt / document get, and submit's confidential uploads.
#include "tools/caselinkctl/document_command.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "security/digest.h"
#include "tools/client/confidential_documents.h"

namespace caselink {
namespace {

using cli::Fail;
using cli::ParseFlags;

// --key FILE --key-id ID, or the agency's own encryption key from the PKI folder.
absl::StatusOr<DecryptionKey> KeyFrom(const cli::Flags& global, const cli::Flags& flags) {
  if (flags.Has("key")) {
    if (flags.Get("key-id").empty()) return absl::InvalidArgumentError("--key needs --key-id (the key id the document was encrypted to)");
    auto pem = cli::ReadFile(flags.Get("key"));
    if (!pem.ok()) return pem.status();
    return DecryptionKey{flags.Get("key-id"), *pem};
  }
  const std::string pki = global.Get("pki", flags.Get("pki-dir", cli::Env("CASELINK_PKI")));
  const std::string agency = global.Get("agency", cli::Env("CASELINK_AGENCY"));
  if (pki.empty() || agency.empty()) {
    return absl::InvalidArgumentError("give --key FILE --key-id ID, or --pki DIR and --agency ID for the agency's own key");
  }
  auto identity = LoadAgencyIdentity(pki, agency);
  if (!identity.ok()) return identity.status();
  return DecryptionKeyOf(*identity);
}

// "sha256:HEX" or "sm3:HEX".
absl::StatusOr<v1::Digest> ParseDigest(const std::string& text) {
  std::pair<std::string, std::string> kv = absl::StrSplit(text, absl::MaxSplits(':', 1));
  v1::Digest d;
  const std::string alg = absl::AsciiStrToLower(kv.first);
  if (alg == "sha256") d.set_algorithm(v1::SHA256);
  else if (alg == "sm3") d.set_algorithm(v1::SM3);
  else return absl::InvalidArgumentError(absl::StrCat("digest '", text, "' must be sha256:HEX or sm3:HEX"));
  auto raw = security::HexDecode(kv.second);
  if (!raw.ok() || raw->size() != 32) return absl::InvalidArgumentError(absl::StrCat("digest '", text, "' needs 64 hex characters"));
  d.set_value(*raw);
  return d;
}

int Decrypt(const cli::Flags& global, const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl [--pki DIR --agency ID] decrypt --in FILE --out FILE [--key KEY.pem --key-id ID]\n"
      "                   [--plaintext-digest sha256:HEX|sm3:HEX] [--plaintext-size N]\n"
      "\n"
      "Decrypts a confidential document (as downloaded) with the agency's encryption key\n"
      "(DIR/agencies/ID/encryption.key) or --key. The plaintext goes to a temporary file that is\n"
      "renamed to --out only when every chunk authenticated and, when given, the plaintext digest\n"
      "and size (from the envelope's DocumentRef) match: a tampered document leaves nothing behind.\n";
  auto flags = ParseFlags(args, {});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help) return std::cout << kUsage, 0;
  if (flags->Get("in").empty() || flags->Get("out").empty()) return std::cerr << kUsage, 2;
  auto key = KeyFrom(global, *flags);
  if (!key.ok()) return Fail(key.status());
  v1::DocumentRef expected;
  const bool check = flags->Has("plaintext-digest");
  if (check) {
    auto digest = ParseDigest(flags->Get("plaintext-digest"));
    if (!digest.ok()) return Fail(digest.status());
    *expected.mutable_plaintext_digest() = *digest;
    if (!flags->Has("plaintext-size")) return Fail(absl::InvalidArgumentError("--plaintext-digest needs --plaintext-size"));
    expected.set_plaintext_size_bytes(std::stoull(flags->Get("plaintext-size")));
  }
  if (auto st = DecryptFile(flags->Get("in"), flags->Get("out"), *key, check ? &expected : nullptr); !st.ok()) return Fail(st);
  std::cout << "decrypted " << flags->Get("in") << " -> " << flags->Get("out") << (check ? " (plaintext digest checked)" : "") << "\n";
  return 0;
}

}  // namespace

absl::StatusOr<DocumentUpload> DocumentUploadFor(AgencyClient& client, const cli::Flags& flags, const std::string& action,
                                                 const std::string& case_id) {
  DocumentUpload upload;
  upload.confidential = flags.Has("confidential");
  if (!upload.confidential) {
    if (flags.Has("encrypt-to")) return absl::InvalidArgumentError("--encrypt-to goes with --confidential");
    return upload;
  }
  if (flags.Has("encrypt-to")) {
    for (absl::string_view id : absl::StrSplit(flags.Get("encrypt-to"), ',', absl::SkipWhitespace())) {
      upload.recipients.emplace_back(absl::StripAsciiWhitespace(id));
    }
    return upload;
  }
  if (action == "transfer") {
    auto all = client.GetAgencyCertificates({});
    if (!all.ok()) return all.status();
    std::string region;
    for (const auto& a : all->agencies()) {
      if (a.agency_id() == client.agency_id()) region = a.region();
    }
    for (const auto& a : all->agencies()) {
      if (a.region() == region && (a.kind() == v1::PUBLIC_SECURITY || a.kind() == v1::PROCURATORATE)) {
        upload.recipients.push_back(a.agency_id());
      }
    }
    if (upload.recipients.size() != 2) {
      return absl::FailedPreconditionError(absl::StrCat("the registry has no public security bureau and procuratorate in region '",
                                                        region, "'; name the recipients with --encrypt-to"));
    }
    return upload;
  }
  auto c = client.GetCase(case_id);
  if (!c.ok()) return c.status();
  std::vector<std::string> parties = {c->case_().originator(), c->case_().addressee(), c->case_().court()};
  parties.insert(parties.end(), c->case_().copied().begin(), c->case_().copied().end());
  for (const auto& id : parties) {
    if (id.empty() || id == client.agency_id()) continue;
    if (std::find(upload.recipients.begin(), upload.recipients.end(), id) == upload.recipients.end()) upload.recipients.push_back(id);
  }
  return upload;
}

absl::StatusOr<v1::DocumentRef> UploadDocument(AgencyClient& client, const DocumentUpload& upload, const std::string& path,
                                               v1::DocumentType type, const std::string& title, const std::string& media_type) {
  if (!upload.confidential) return client.UploadFile(path, type, title, media_type);
  return UploadConfidentialFile(client, path, type, title, media_type, upload.recipients);
}

int DecryptCommand(const cli::Flags& global, const std::vector<std::string>& args) { return Decrypt(global, args); }

int DocumentCommand(const cli::Flags& global, const std::vector<std::string>& args) {
  constexpr char kUsage[] =
      "usage: caselinkctl document get DIGEST_HEX --case ID --out FILE [--decrypt [--key KEY.pem --key-id ID]]\n"
      "\n"
      "Downloads a document of a case (DIGEST_HEX: the profile's digest, SHA-256 under INTL, SM3\n"
      "under GM, as in the envelope). With --decrypt, a confidential document is decrypted with the\n"
      "agency's encryption key while it streams. The document's size and digest (of the plaintext\n"
      "with --decrypt) are checked against its DocumentRef in the case timeline; the output appears\n"
      "only when everything matched.\n";
  auto flags = ParseFlags(args, {"decrypt"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->help) return std::cout << kUsage, 0;
  if (flags->positional.size() != 2 || flags->positional[0] != "get" || flags->Get("case").empty() || flags->Get("out").empty()) {
    return std::cerr << kUsage, 2;
  }
  auto client = cli::Connect(global);
  if (!client.ok()) return Fail(client.status());
  auto profile = (*client)->Profile();
  if (!profile.ok()) return Fail(profile.status());
  auto raw = security::HexDecode(absl::AsciiStrToLower(flags->positional[1]));
  if (!raw.ok() || raw->size() != 32) return Fail(absl::InvalidArgumentError("DIGEST_HEX must be 64 hex characters"));
  v1::Digest digest;
  digest.set_algorithm(DocumentDigestOf(*profile));
  digest.set_value(*raw);
  auto c = (*client)->GetCase(flags->Get("case"));
  if (!c.ok()) return Fail(c.status());
  const v1::DocumentRef* expected = nullptr;
  for (const auto& event : c->timeline()) {
    for (const auto& doc : event.documents()) {
      if (doc.digest().value() == digest.value()) expected = &doc;
    }
  }
  const bool decrypt = flags->Has("decrypt");
  DecryptionKey key;
  if (decrypt) {
    if (expected != nullptr && !expected->confidential()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("document '", expected->title(), "' is not confidential; drop --decrypt")));
    }
    auto k = KeyFrom(global, *flags);
    if (!k.ok()) return Fail(k.status());
    key = *k;
  }
  if (auto st = DownloadDocument(**client, flags->Get("case"), digest, flags->Get("out"), decrypt ? &key : nullptr, expected); !st.ok()) {
    return Fail(st);
  }
  std::cout << "wrote " << flags->Get("out") << (decrypt ? " (decrypted" : " (as stored")
            << (expected != nullptr ? ", size and digest checked against the DocumentRef)" : ")") << "\n";
  return 0;
}

}  // namespace caselink
