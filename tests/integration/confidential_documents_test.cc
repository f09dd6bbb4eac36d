// Confidential documents end to end through a real TLS gateway, in both profiles: encrypted by
// the sending agency to the addressed agencies' registered encryption certificates, stored and
// forwarded by the gateway as ciphertext it cannot read, decrypted by each recipient; refusals of
// documents not encrypted to every recipient; tampering detected with nothing written out; and
// the GM profile's SM3 document digests.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/registry.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/document_crypto.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"
#include "tools/client/confidential_documents.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

namespace fs = std::filesystem;
using testing::TestGateway;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Random bytes, so that no stored file can contain them by chance; spans several 64 KiB chunks.
std::string SecretBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Files (not folders) left in `dir`, e.g. a partial output.
std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class ConfidentialDocumentsTest : public ::testing::TestWithParam<const char*> {
 protected:
  ConfidentialDocumentsTest() : gateway_(testing::MakeTempDir(), {.profile = GetParam()}), work_(testing::MakeTempDir()) {}
  ~ConfidentialDocumentsTest() override { fs::remove_all(work_); }

  bool gm() const { return std::string(GetParam()) == "GM"; }
  std::string Agency(const std::string& id) const { return gateway_.pki_dir() + "/agencies/" + id + "/"; }

  DecryptionKey KeyOf(const std::string& agency) const {
    return {absl::StrCat(agency, "/encryption-1"), Slurp(Agency(agency) + "encryption.key")};
  }

  // Encrypts `plaintext` as the EPB to `recipients` and uploads it as the transfer letter.
  absl::StatusOr<v1::DocumentRef> UploadSecret(AgencyClient& epb, const std::string& plaintext,
                                               const std::vector<std::string>& recipients, const std::string& title = "移送书") {
    const std::string path = absl::StrCat(work_, "/", title, ".bin");
    Spit(path, plaintext);
    return UploadConfidentialFile(epb, path, v1::TRANSFER_LETTER, title, "application/pdf", recipients);
  }

  // A transfer whose letter is `letter` (the other required documents are the standard ones).
  v1::Envelope TransferWith(const std::string& case_id, const v1::DocumentRef& letter) {
    v1::Envelope e = testing::TransferEnvelope(case_id);
    for (auto& doc : *e.mutable_documents()) {
      if (doc.type() == v1::TRANSFER_LETTER) doc = letter;
    }
    return e;
  }

  // The stored blob of a document: <data>/blobs/sha256/xx/<sha256 of the bytes>.
  std::string StoredBlob(const std::string& ciphertext_sha256_hex) const {
    return absl::StrCat(gateway_.config().data_dir(), "/blobs/sha256/", ciphertext_sha256_hex.substr(0, 2), "/",
                        ciphertext_sha256_hex);
  }

  TestGateway gateway_;
  std::string work_;
};

TEST_P(ConfidentialDocumentsTest, TransferEncryptedToPsbAndProDecryptsForBothAndNotForTheGateway) {
  auto epb = gateway_.Client("510100.epb");
  const std::string secret = SecretBytes(200 * 1024 + 17, 1);
  auto letter = UploadSecret(*epb, secret, {"510100.psb", "510100.pro"});
  ASSERT_TRUE(letter.ok()) << letter.status();
  EXPECT_TRUE(letter->confidential());
  EXPECT_EQ(letter->encryption_suite(), gm() ? v1::SM4CTR_HMACSM3_SM2 : v1::AES256GCM_ECDH_P256);
  EXPECT_EQ(letter->digest().algorithm(), gm() ? v1::SM3 : v1::SHA256);
  EXPECT_EQ(letter->plaintext_digest().algorithm(), gm() ? v1::SM3 : v1::SHA256);
  EXPECT_EQ(letter->plaintext_digest().value(), gm() ? security::Sm3(secret) : security::Sha256(secret));
  EXPECT_EQ(letter->plaintext_size_bytes(), secret.size());
  EXPECT_GT(letter->size_bytes(), secret.size());
  EXPECT_EQ(std::vector<std::string>(letter->recipient_key_ids().begin(), letter->recipient_key_ids().end()),
            (std::vector<std::string>{"510100.psb/encryption-1", "510100.pro/encryption-1"}));

  auto accepted = gateway_.Submit(*epb, TransferWith("C-1", *letter));
  ASSERT_TRUE(accepted.ok()) << accepted.status();

  // Both recipients download and decrypt the exact plaintext, checked against the signed reference.
  for (const std::string agency : {"510100.psb", "510100.pro"}) {
    auto client = gateway_.Client(agency);
    const std::string out = absl::StrCat(work_, "/", agency, ".out");
    const DecryptionKey key = KeyOf(agency);
    auto st = DownloadDocument(*client, "C-1", letter->digest(), out, &key, &*letter);
    ASSERT_TRUE(st.ok()) << agency << ": " << st;
    EXPECT_TRUE(Slurp(out) == secret) << agency;
  }

  // What the gateway stores is the ciphertext, and nothing in its data directory holds the plaintext.
  auto raw = gateway_.Client("510100.psb");
  const std::string ciphertext_path = work_ + "/as-stored.cldf";
  ASSERT_TRUE(DownloadDocument(*raw, "C-1", letter->digest(), ciphertext_path, nullptr, &*letter).ok());
  const std::string ciphertext = Slurp(ciphertext_path);
  const std::string blob = StoredBlob(security::HexEncode(security::Sha256(ciphertext)));
  ASSERT_TRUE(fs::exists(blob)) << blob;
  EXPECT_EQ(Slurp(blob), ciphertext);
  EXPECT_EQ(ciphertext.substr(0, 4), "CLDF");
  const std::string probe = secret.substr(100000, 64);
  for (const auto& entry : fs::recursive_directory_iterator(gateway_.config().data_dir())) {
    if (!entry.is_regular_file()) continue;
    EXPECT_EQ(Slurp(entry.path().string()).find(probe), std::string::npos) << entry.path();
  }

  // The gateway's own private keys (receipt signing, TLS) cannot unwrap the content key under
  // any of the recipients' key ids, and a failed attempt leaves no output.
  for (const std::string key_file : {"gateway/signing.key", "gateway/tls.key"}) {
    for (const std::string& key_id : letter->recipient_key_ids()) {
      const std::string out = work_ + "/gateway-attempt.out";
      auto st = DecryptFile(blob, out, {key_id, Slurp(gateway_.pki_dir() + "/" + key_file)});
      EXPECT_FALSE(st.ok()) << key_file << " as " << key_id << " decrypted the document";
      EXPECT_FALSE(fs::exists(out));
    }
  }
  // The court is not a recipient, so its own key does not open the document either.
  auto court = DecryptFile(blob, work_ + "/court.out", KeyOf("510100.court"));
  EXPECT_EQ(court.code(), absl::StatusCode::kNotFound) << court;
  EXPECT_FALSE(fs::exists(work_ + "/court.out"));
}

TEST_P(ConfidentialDocumentsTest, DocumentNotEncryptedToTheProcuratorateIsRefusedNamingIt) {
  auto epb = gateway_.Client("510100.epb");
  auto letter = UploadSecret(*epb, SecretBytes(5000, 2), {"510100.psb"});
  ASSERT_TRUE(letter.ok()) << letter.status();
  const uint64_t audit_before = gateway_.AuditSize();
  auto refused = gateway_.Submit(*epb, TransferWith("C-2", *letter));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("'移送书'"), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("not encrypted to agency '510100.pro'"), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("510100.pro/encryption-1"), std::string::npos) << refused.status();

  // Audited as a refusal, and no case was opened.
  auto records = gateway_.AuditRecordsFrom(audit_before);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().outcome(), v1::AuditRecord::REFUSED);
  EXPECT_EQ(records.back().status_code(), "FAILED_PRECONDITION");
  EXPECT_EQ(records.back().case_id(), "C-2");
  EXPECT_NE(records.back().reason().find("510100.pro"), std::string::npos);
  auto c = gateway_.store().ReadCase("C-2");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());

  // Signed recipients that differ from the stored header are refused too.
  auto both = UploadSecret(*epb, SecretBytes(5000, 3), {"510100.psb", "510100.pro"});
  ASSERT_TRUE(both.ok()) << both.status();
  v1::DocumentRef lying = *both;
  lying.add_recipient_key_ids("510100.court/encryption-1");
  auto mismatch = gateway_.Submit(*epb, TransferWith("C-2", lying));
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition) << mismatch.status();
  EXPECT_NE(mismatch.status().message().find("stored encrypted to key ids"), std::string::npos) << mismatch.status();

  // A plaintext upload merely marked confidential is not accepted as one.
  auto plain = epb->UploadBytes("not encrypted at all", v1::TRANSFER_LETTER, "明文", "text/plain");
  ASSERT_TRUE(plain.ok()) << plain.status();
  v1::DocumentRef marked = *plain;
  marked.set_confidential(true);
  marked.set_encryption_suite(gm() ? v1::SM4CTR_HMACSM3_SM2 : v1::AES256GCM_ECDH_P256);
  *marked.mutable_plaintext_digest() = plain->digest();
  marked.add_recipient_key_ids("510100.psb/encryption-1");
  auto not_cldf = gateway_.Submit(*epb, TransferWith("C-2", marked));
  EXPECT_EQ(not_cldf.status().code(), absl::StatusCode::kFailedPrecondition) << not_cldf.status();
  EXPECT_NE(not_cldf.status().message().find("not stored as a CaseLink encrypted document"), std::string::npos)
      << not_cldf.status();

  // The suite of the other profile is refused.
  v1::DocumentRef other_suite = *both;
  other_suite.set_encryption_suite(gm() ? v1::AES256GCM_ECDH_P256 : v1::SM4CTR_HMACSM3_SM2);
  auto wrong_suite = gateway_.Submit(*epb, TransferWith("C-2", other_suite));
  EXPECT_EQ(wrong_suite.status().code(), absl::StatusCode::kFailedPrecondition) << wrong_suite.status();
  EXPECT_NE(wrong_suite.status().message().find(gm() ? "the GM profile requires" : "the INTL profile requires"),
            std::string::npos)
      << wrong_suite.status();

  auto still_none = gateway_.store().ReadCase("C-2");
  ASSERT_TRUE(still_none.ok());
  EXPECT_FALSE(still_none->has_value());
}

TEST_P(ConfidentialDocumentsTest, TamperedChunkFailsAndLeavesNoOutput) {
  auto epb = gateway_.Client("510100.epb");
  const std::string secret = SecretBytes(3 * 64 * 1024 + 5, 4);
  auto letter = UploadSecret(*epb, secret, {"510100.psb", "510100.pro"});
  ASSERT_TRUE(letter.ok()) << letter.status();
  ASSERT_TRUE(gateway_.Submit(*epb, TransferWith("C-3", *letter)).ok());
  auto psb = gateway_.Client("510100.psb");
  const std::string downloaded = work_ + "/letter.cldf";
  ASSERT_TRUE(DownloadDocument(*psb, "C-3", letter->digest(), downloaded).ok());
  std::string ciphertext = Slurp(downloaded);
  auto header = security::ParseDocumentHeader(ciphertext);
  ASSERT_TRUE(header.ok()) << header.status();

  // One bit flipped inside the second chunk: the first chunk authenticates, the second does not.
  const size_t second_chunk = header->header_size + 5 + 64 * 1024 + (gm() ? 32 : 16);
  std::string tampered = ciphertext;
  tampered[second_chunk + 5 + 100] ^= 0x01;
  const std::string out_dir = work_ + "/out";
  fs::create_directories(out_dir);
  Spit(work_ + "/tampered.cldf", tampered);
  auto st = DecryptFile(work_ + "/tampered.cldf", out_dir + "/letter.pdf", KeyOf("510100.psb"), &*letter);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(FilesIn(out_dir).empty()) << "left behind: " << FilesIn(out_dir).front();

  // A truncated document (the final chunk missing) fails the same way.
  Spit(work_ + "/truncated.cldf", ciphertext.substr(0, second_chunk));
  st = DecryptFile(work_ + "/truncated.cldf", out_dir + "/letter.pdf", KeyOf("510100.psb"), &*letter);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(FilesIn(out_dir).empty());

  // An intact document whose signed plaintext digest does not match is refused as well.
  v1::DocumentRef wrong = *letter;
  wrong.mutable_plaintext_digest()->set_value(std::string(32, 'x'));
  st = DecryptFile(downloaded, out_dir + "/letter.pdf", KeyOf("510100.psb"), &wrong);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(FilesIn(out_dir).empty());

  // caselinkctl decrypt: the same refusal, exit status 1, no output file; then the intact file.
  auto ctl = [&](const std::string& args) {
    const std::string command = absl::StrCat("'", CASELINKCTL_BINARY, "' --pki '", gateway_.pki_dir(),
                                             "' --agency 510100.psb ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    size_t n;
    while (pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = pipe == nullptr ? -1 : pclose(pipe);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, output);
  };
  auto [failed, message] = ctl(absl::StrCat("decrypt --in '", work_, "/tampered.cldf' --out '", out_dir, "/cli.pdf'"));
  EXPECT_EQ(failed, 1) << message;
  EXPECT_NE(message.find("UNAUTHENTICATED"), std::string::npos) << message;
  EXPECT_TRUE(FilesIn(out_dir).empty());
  const std::string digest_flag = absl::StrCat(gm() ? "sm3:" : "sha256:", security::HexEncode(letter->plaintext_digest().value()));
  auto [ok, said] = ctl(absl::StrCat("decrypt --in '", downloaded, "' --out '", out_dir, "/cli.pdf' --plaintext-digest ",
                                     digest_flag, " --plaintext-size ", secret.size()));
  EXPECT_EQ(ok, 0) << said;
  EXPECT_TRUE(Slurp(out_dir + "/cli.pdf") == secret);
}

TEST_P(ConfidentialDocumentsTest, CaselinkctlSubmitConfidentialAndDocumentGetDecrypt) {
  const std::string dir = work_ + "/case";
  fs::create_directories(dir);
  const std::string secret = SecretBytes(70000, 5);
  Spit(dir + "/letter.bin", secret);
  Spit(dir + "/report.txt", "调查报告");
  Spit(dir + "/items.txt", "物品清单");
  Spit(dir + "/case.yaml",
       "case_id: \"C-CLI\"\n"
       "transfer: {case_number: \"n\", case_name: \"n\", offence_category: \"污染环境罪\", legal_basis: \"x\"}\n"
       "documents:\n"
       "  - {type: TRANSFER_LETTER, title: \"letter\", path: letter.bin}\n"
       "  - {type: INVESTIGATION_REPORT, title: \"report\", path: report.txt}\n"
       "  - {type: SEIZED_ITEMS_LIST, title: \"items\", path: items.txt}\n");
  auto ctl = [&](const std::string& agency, const std::string& args) {
    const std::string command = absl::StrCat("'", CASELINKCTL_BINARY, "' --pki '", gateway_.pki_dir(), "' --agency ", agency,
                                             " --gateway ", gateway_.target(), " ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    size_t n;
    while (pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = pipe == nullptr ? -1 : pclose(pipe);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, output);
  };
  auto [submitted, receipt] = ctl("510100.epb", absl::StrCat("submit transfer --case-file '", dir, "/case.yaml' --confidential"));
  ASSERT_EQ(submitted, 0) << receipt;

  auto pro = gateway_.Client("510100.pro");
  auto c = pro->GetCase("C-CLI");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_FALSE(c->timeline().empty());
  const v1::DocumentRef* letter = nullptr;
  for (const auto& doc : c->timeline(0).documents()) {
    EXPECT_TRUE(doc.confidential()) << doc.title();
    if (doc.type() == v1::TRANSFER_LETTER) letter = &doc;
  }
  ASSERT_NE(letter, nullptr);
  const std::string hex = security::HexEncode(letter->digest().value());
  for (const std::string agency : {"510100.psb", "510100.pro"}) {
    const std::string out = absl::StrCat(work_, "/", agency, "-letter.bin");
    auto [got, said] = ctl(agency, absl::StrCat("document get ", hex, " --case C-CLI --decrypt --out '", out, "'"));
    EXPECT_EQ(got, 0) << said;
    EXPECT_NE(said.find("size and digest checked"), std::string::npos) << said;
    EXPECT_TRUE(Slurp(out) == secret) << agency;
  }

  // Later actions default to the case's other parties: the PSB's filing notice goes to the
  // originating EPB and the copied procuratorate, to whom the filing is delivered.
  auto psb = gateway_.Client("510100.psb");
  ASSERT_TRUE(gateway_.Submit(*psb, testing::ActionEnvelope("C-CLI", "receipt")).ok());
  const std::string notice = SecretBytes(1000, 6);
  Spit(dir + "/notice.bin", notice);
  auto [filed, filing_receipt] =
      ctl("510100.psb", absl::StrCat("submit filing --case C-CLI --number N-1 --doc FILING_NOTICE='", dir, "/notice.bin' --confidential"));
  ASSERT_EQ(filed, 0) << filing_receipt;
  auto after = pro->GetCase("C-CLI");
  ASSERT_TRUE(after.ok()) << after.status();
  const v1::DocumentRef& filing_notice = after->timeline(after->timeline_size() - 1).documents(0);
  EXPECT_TRUE(filing_notice.confidential());
  EXPECT_EQ(std::set<std::string>(filing_notice.recipient_key_ids().begin(), filing_notice.recipient_key_ids().end()),
            (std::set<std::string>{"510100.epb/encryption-1", "510100.pro/encryption-1"}));
  const std::string out = work_ + "/notice.out";
  auto [got, said] = ctl("510100.epb", absl::StrCat("document get ", security::HexEncode(filing_notice.digest().value()),
                                                  " --case C-CLI --decrypt --out '", out, "'"));
  EXPECT_EQ(got, 0) << said;
  EXPECT_TRUE(Slurp(out) == notice);
}

TEST_P(ConfidentialDocumentsTest, RegistryPublishesEncryptionCertificatesAndRefusesUnknownAgencies) {
  auto psb = gateway_.Client("510100.psb");
  auto certs = psb->GetAgencyCertificates({"510100.pro", "510100.epb"});
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->agencies_size(), 2);
  EXPECT_EQ(certs->agencies(0).agency_id(), "510100.pro");
  EXPECT_EQ(certs->agencies(0).kind(), v1::PROCURATORATE);
  ASSERT_EQ(certs->agencies(0).encryption_keys_size(), 1);
  EXPECT_EQ(certs->agencies(0).encryption_keys(0).key_id(), "510100.pro/encryption-1");
  EXPECT_EQ(certs->agencies(0).encryption_keys(0).certificate_pem(), Slurp(Agency("510100.pro") + "encryption.crt"));
  ASSERT_EQ(certs->agencies(0).signing_keys_size(), 1);
  EXPECT_EQ(certs->agencies(0).signing_keys(0).key_id(), "510100.pro/signing-1");

  auto all = psb->GetAgencyCertificates({});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->agencies_size(), 4);

  auto unknown = psb->GetAgencyCertificates({"510100.pro", "999999.psb"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("'999999.psb'"), std::string::npos) << unknown.status();
}

INSTANTIATE_TEST_SUITE_P(Profiles, ConfidentialDocumentsTest, ::testing::Values("INTL", "GM"),
                         [](const auto& info) { return std::string(info.param); });

// ---- GM document digests ----

class GmDigestTest : public ::testing::Test {
 protected:
  GmDigestTest() : gateway_(testing::MakeTempDir(), {.profile = "GM"}) {}
  TestGateway gateway_;
};

TEST_F(GmDigestTest, UploadReturnsSm3AndShaReferencesAreRefusedWithTheProfileNamed) {
  auto epb = gateway_.Client("510100.epb");
  const std::string bytes = "一份案件材料";
  auto ref = epb->UploadBytes(bytes, v1::OTHER, "material", "text/plain");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->digest().algorithm(), v1::SM3);
  EXPECT_EQ(ref->digest().value(), security::Sm3(bytes));

  // A transfer referencing its documents by SHA-256 (as under INTL) is refused, naming GM and SM3.
  v1::Envelope sha_referenced = testing::TransferEnvelope("G-SHA");
  auto signed_envelope = epb->Sign(sha_referenced);
  ASSERT_TRUE(signed_envelope.ok()) << signed_envelope.status();
  auto refused = epb->SubmitSigned(*signed_envelope);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("under the GM profile documents are referenced by their 32-byte SM3 digest"),
            std::string::npos)
      << refused.status();

  // By SM3 the same transfer is accepted, and the documents download by their SM3 digest.
  auto accepted = gateway_.Submit(*epb, testing::TransferEnvelope("G-SM3"));
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  auto psb = gateway_.Client("510100.psb");
  const std::string out = testing::MakeTempDir() + "/letter.txt";
  v1::Digest sm3;
  sm3.set_algorithm(v1::SM3);
  sm3.set_value(security::Sm3(testing::StandardDocumentBytes(v1::TRANSFER_LETTER)));
  ASSERT_TRUE(DownloadDocument(*psb, "G-SM3", sm3, out).ok());
  EXPECT_EQ(Slurp(out), testing::StandardDocumentBytes(v1::TRANSFER_LETTER));
  fs::remove_all(fs::path(out).parent_path());

  // Download by SHA-256 under GM is refused with the same explanation.
  v1::Digest sha;
  sha.set_algorithm(v1::SHA256);
  sha.set_value(security::Sha256(testing::StandardDocumentBytes(v1::TRANSFER_LETTER)));
  grpc::ClientContext ctx;
  v1::DownloadRequest req;
  req.set_case_id("G-SM3");
  *req.mutable_digest() = sha;
  auto reader = psb->documents().Download(&ctx, req);
  v1::DownloadChunk chunk;
  while (reader->Read(&chunk)) {
  }
  auto st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("under the GM profile documents are referenced by their 32-byte SM3 digest"),
            std::string::npos)
      << st.error_message();

  // Uploads declaring SHA-256 are refused under GM.
  grpc::ClientContext up_ctx;
  v1::UploadResponse resp;
  auto writer = epb->documents().Upload(&up_ctx, &resp);
  v1::UploadRequest header;
  header.mutable_header()->set_size_bytes(3);
  header.mutable_header()->set_digest_algorithm(v1::SHA256);
  writer->Write(header);
  writer->WritesDone();
  auto up = writer->Finish();
  EXPECT_EQ(up.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(up.error_message().find("addressed by SM3 under the GM profile"), std::string::npos) << up.error_message();
}

// ---- Registry: encryption certificates ----

class EncryptionKeyRegistryTest : public ::testing::Test {
 protected:
  // A fresh dev PKI of `profile`; when `replace` is given, agency 510100.psb's encryption
  // certificate becomes what it returns (it may issue with the new CA). Returns the registry's
  // verdict under `profile`.
  absl::Status LoadWith(const std::string& profile, std::function<std::string()> replace = nullptr) {
    DevPkiOptions options;
    options.dir = dir_;
    options.profile = profile;
    options.force = true;
    if (auto st = InitDevPki(options); !st.ok()) return st;
    if (replace) Spit(dir_ + "/agencies/510100.psb/encryption.crt", replace());
    auto registry = LoadRegistryFile(dir_ + "/registry.yaml");
    if (!registry.ok()) return registry.status();
    auto created = AgencyRegistry::Create(*registry, Slurp(dir_ + "/ca/ca.crt"), absl::Now(), profile == "GM" ? v1::GM : v1::INTL);
    return created.status();
  }

  // A certificate from the current dev CA for a fresh key of the other family.
  std::function<std::string()> Issue(bool sm2, security::CertificateProfile profile) {
    return [this, sm2, profile] {
      auto key = sm2 ? security::GenerateSm2KeyPair() : security::GenerateEcP256KeyPair();
      EXPECT_TRUE(key.ok());
      security::CertificateRequest req;
      req.common_name = "510100.psb encryption";
      req.public_key_pem = key->public_key_pem;
      req.profile = profile;
      req.not_before = absl::Now() - absl::Hours(1);
      req.not_after = absl::Now() + absl::Hours(24);
      auto pem = security::IssueCertificate(req, Slurp(dir_ + "/ca/ca.crt"), Slurp(dir_ + "/ca/ca.key"));
      EXPECT_TRUE(pem.ok()) << pem.status();
      return pem.ok() ? *pem : std::string();
    };
  }

  ~EncryptionKeyRegistryTest() override { fs::remove_all(dir_); }
  std::string dir_ = testing::MakeTempDir();
};

TEST_F(EncryptionKeyRegistryTest, ValidatesUsageAndKeyFamilyAtLoad) {
  EXPECT_TRUE(LoadWith("INTL").ok());
  EXPECT_TRUE(LoadWith("GM").ok());

  // A signing certificate named as an encryption certificate lacks keyAgreement.
  auto signing = LoadWith("INTL", [this] { return Slurp(dir_ + "/agencies/510100.psb/signing.crt"); });
  EXPECT_EQ(signing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(signing.message().find("agency '510100.psb'"), std::string::npos) << signing;
  EXPECT_NE(signing.message().find("keyUsage does not include keyAgreement"), std::string::npos) << signing;

  // Under GM the key must be SM2: a P-256 key with keyEncipherment is refused by family.
  auto p256_under_gm = LoadWith("GM", Issue(false, security::CertificateProfile::kKeyEncipherment));
  EXPECT_EQ(p256_under_gm.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p256_under_gm.message().find("under the GM profile"), std::string::npos) << p256_under_gm;

  // And under INTL an SM2 key with keyAgreement is refused the same way.
  auto sm2_under_intl = LoadWith("INTL", Issue(true, security::CertificateProfile::kKeyAgreement));
  EXPECT_EQ(sm2_under_intl.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sm2_under_intl.message().find("under the INTL profile"), std::string::npos) << sm2_under_intl;

  // A certificate from another CA is refused by the chain check.
  auto foreign = LoadWith("INTL", [] {
    auto ca = security::GenerateEcP256KeyPair();
    auto leaf = security::GenerateEcP256KeyPair();
    security::CertificateRequest req;
    req.common_name = "foreign";
    req.public_key_pem = leaf->public_key_pem;
    req.profile = security::CertificateProfile::kKeyAgreement;
    req.not_before = absl::Now() - absl::Hours(1);
    req.not_after = absl::Now() + absl::Hours(24);
    security::CertificateRequest ca_req = req;
    ca_req.common_name = "foreign CA";
    ca_req.public_key_pem = ca->public_key_pem;
    ca_req.profile = security::CertificateProfile::kCa;
    auto ca_pem = security::IssueCertificate(ca_req, "", ca->private_key_pem);
    return *security::IssueCertificate(req, *ca_pem, ca->private_key_pem);
  });
  EXPECT_EQ(foreign.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(foreign.message().find("encryption key 510100.psb/encryption-1"), std::string::npos) << foreign;
}

}  // namespace
}  // namespace caselink
