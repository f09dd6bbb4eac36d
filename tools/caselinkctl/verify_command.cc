// Offline verification: the signature over the exact signed bytes, the signer's
// certificate chain (and CRLs, if given) at the time the object itself fixes — the
// gateway time of a receipt or evidence record, the creation time of an envelope.
#include "tools/caselinkctl/verify_command.h"

#include <iostream>
#include <memory>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "caselink/v1/audit.pb.h"
#include "caselink/v1/case.pb.h"
#include "caselink/v1/envelope.pb.h"
#include "caselink/v1/services.pb.h"
#include "gateway/crypto_profile.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/signer_factory.h"
#include "tools/caselinkctl/cli.h"

namespace caselink {
namespace {

constexpr char kUsage[] =
    "usage: caselinkctl verify FILE --ca PEM [--signer-cert PEM] [--gateway-cert PEM] [--crl PEM]\n"
    "                           [--type envelope|receipt|evidence] [--at RFC3339] [--envelope FILE]\n"
    "\n"
    "Verifies FILE offline (JSON or binary protobuf): a caselink.v1.SignedEnvelope (with\n"
    "--signer-cert, the sending agency's signing certificate), a SignedSubmissionReceipt or a\n"
    "SubmitResponse (with --gateway-cert), or a SignedEvidence (with --gateway-cert). The\n"
    "signature must verify over the exact signed bytes, and the certificate must chain to --ca,\n"
    "allow digitalSignature and (with --crl) not be revoked at the time the object fixes: the\n"
    "gateway time of a receipt or evidence record, an envelope's created_at (or --at).\n"
    "--envelope FILE also checks that a receipt is for that signed envelope.\n"
    "Exit 0: valid; 1: not valid (the reason is printed); 2: usage.\n";

using google::protobuf::util::TimeUtil;

enum class Kind { kEnvelope, kReceipt, kEvidence };

struct Loaded {
  Kind kind;
  std::string signed_bytes;
  v1::Signature signature;
};

bool LooksLikeJson(const std::string& bytes) {
  for (char c : bytes) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    return c == '{';
  }
  return false;
}

bool ParseJson(const std::string& text, google::protobuf::Message& m) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  return google::protobuf::util::JsonStringToMessage(text, &m, options).ok();
}

// A binary parse that read every field as what it is (no unknown fields).
bool ParseExact(const std::string& bytes, google::protobuf::Message& m) {
  return m.ParseFromString(bytes) && m.GetReflection()->GetUnknownFields(m).empty();
}

absl::StatusOr<Loaded> Load(const std::string& bytes, const std::string& type) {
  const bool json = LooksLikeJson(bytes);
  auto outer = [&](google::protobuf::Message& m) { return json ? ParseJson(bytes, m) : ParseExact(bytes, m); };
  // The three outer messages have the same shape (bytes 1, Signature 2); what is inside decides.
  if (type.empty() || type == "envelope") {
    v1::SignedEnvelope se;
    v1::Envelope e;
    if (outer(se) && ParseExact(se.envelope(), e) && e.action_case() != v1::Envelope::ACTION_NOT_SET) {
      return Loaded{Kind::kEnvelope, se.envelope(), se.signature()};
    }
  }
  if (type.empty() || type == "receipt") {
    v1::SignedSubmissionReceipt sr;
    v1::SubmitResponse response;
    if (json && ParseJson(bytes, response) && response.has_receipt()) sr = response.receipt();
    v1::SubmissionReceipt r;
    if ((sr.has_signature() || outer(sr)) && ParseExact(sr.receipt(), r) && r.has_gateway_time() && !r.envelope_id().empty()) {
      return Loaded{Kind::kReceipt, sr.receipt(), sr.signature()};
    }
  }
  if (type.empty() || type == "evidence") {
    v1::SignedEvidence se;
    v1::Evidence e;
    if (outer(se) && ParseExact(se.evidence(), e) && e.kind() != v1::Evidence::KIND_UNSPECIFIED) {
      return Loaded{Kind::kEvidence, se.evidence(), se.signature()};
    }
  }
  if (!type.empty() && type != "envelope" && type != "receipt" && type != "evidence") {
    return absl::InvalidArgumentError(absl::StrCat("--type must be envelope, receipt or evidence, not '", type, "'"));
  }
  return absl::InvalidArgumentError(
      "the file is not a caselink.v1 SignedEnvelope, SignedSubmissionReceipt, SubmitResponse or SignedEvidence "
      "(JSON or binary protobuf)");
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

absl::StatusOr<std::unique_ptr<security::Certificate>> ReadCertificate(const std::string& path, const std::string& flag) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " PEM is required for this file"));
  auto pem = cli::ReadFile(path);
  if (!pem.ok()) return pem.status();
  auto cert = security::Certificate::FromPem(*pem);
  if (!cert.ok()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": ", cert.status().message()));
  return cert;
}

// Verifies and describes the object; the error says what is wrong.
absl::StatusOr<std::string> Verify(const cli::Flags& flags, const Loaded& loaded) {
  std::string what;
  absl::Time at;
  std::string cert_flag = loaded.kind == Kind::kEnvelope ? "signer-cert" : "gateway-cert";
  switch (loaded.kind) {
    case Kind::kEnvelope: {
      v1::Envelope e;
      e.ParseFromString(loaded.signed_bytes);
      at = FromProto(e.created_at());
      what = absl::StrCat("envelope ", e.envelope_id(), " (case ", e.case_id(), ") signed by ", e.sender_agency(),
                          " with key ", loaded.signature.key_id(), " at ", Rfc3339(at));
      break;
    }
    case Kind::kReceipt: {
      v1::SubmissionReceipt r;
      r.ParseFromString(loaded.signed_bytes);
      at = FromProto(r.gateway_time());
      what = absl::StrCat("gateway receipt for envelope ", r.envelope_id(), " (case ", r.case_id(), ", from ",
                          r.sender_agency(), ", now ", v1::CaseState_Name(r.resulting_state()), ", audit index ",
                          r.audit_index(), ") accepted at ", Rfc3339(at), ", signed by gateway key ",
                          loaded.signature.key_id());
      if (const std::string path = flags.Get("envelope"); !path.empty()) {
        auto bytes = cli::ReadFile(path);
        if (!bytes.ok()) return bytes.status();
        auto envelope = Load(*bytes, "envelope");
        if (!envelope.ok()) return absl::InvalidArgumentError(absl::StrCat("--envelope ", path, ": ", envelope.status().message()));
        if (security::Sha256(envelope->signed_bytes) != r.envelope_digest().value()) {
          return absl::UnauthenticatedError(absl::StrCat("the receipt is not for the envelope in ", path,
                                                         ": its envelope digest differs"));
        }
        absl::StrAppend(&what, "; matches the envelope in ", path);
      }
      break;
    }
    case Kind::kEvidence: {
      v1::Evidence e;
      e.ParseFromString(loaded.signed_bytes);
      at = FromProto(e.time());
      if (e.kind() == v1::Evidence::DELIVERY_ACKNOWLEDGED) {
        what = absl::StrCat("evidence: ", e.agency(), " acknowledged delivery ", e.delivery_sequence(), " of envelope ",
                            e.envelope_id(), " (sha256 ", security::HexEncode(e.envelope_digest().value()), ", from ",
                            e.sender_agency(), ", case ", e.case_id(), ")");
      } else {
        what = absl::StrCat("evidence: ", e.agency(), " retrieved document sha256 ",
                            security::HexEncode(e.document_digest().value()), " of case ", e.case_id());
      }
      absl::StrAppend(&what, " at ", Rfc3339(at), ", signed by gateway key ", loaded.signature.key_id());
      break;
    }
  }
  if (const std::string text = flags.Get("at"); !text.empty()) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, &at, &err)) {
      return absl::InvalidArgumentError(absl::StrCat("--at '", text, "' is not an RFC 3339 time: ", err));
    }
  }
  auto cert = ReadCertificate(flags.Get(cert_flag), cert_flag);
  if (!cert.ok()) return cert.status();
  auto verifier = security::CreateVerifierFromCertificate(**cert);
  if (!verifier.ok()) return verifier.status();
  if (loaded.signature.algorithm() != ToProtoAlgorithm((*verifier)->algorithm())) {
    return absl::UnauthenticatedError(absl::StrCat("the signature declares ",
                                                   v1::SignatureAlgorithm_Name(loaded.signature.algorithm()),
                                                   " but the certificate's key is ",
                                                   security::SignatureAlgorithmName((*verifier)->algorithm())));
  }
  if (auto st = (*verifier)->Verify(loaded.signature.value(), loaded.signed_bytes); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("the signature does not verify with the certificate ",
                                                   flags.Get(cert_flag),
                                                   ": the signed bytes were altered or another key signed them"));
  }
  const std::string ca_path = flags.Get("ca");
  if (ca_path.empty()) return absl::InvalidArgumentError("--ca PEM (the trust anchors) is required");
  auto ca = cli::ReadFile(ca_path);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::unique_ptr<security::ChainValidator>> validator;
  if (const std::string crl_path = flags.Get("crl"); !crl_path.empty()) {
    auto crl = cli::ReadFile(crl_path);
    if (!crl.ok()) return crl.status();
    validator = security::ChainValidator::Create(*ca, *crl);
  } else {
    validator = security::ChainValidator::Create(*ca);
  }
  if (!validator.ok()) return validator.status();
  if (auto st = (*validator)->Validate(**cert, at, security::KeyPurpose::kSigning); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("the signer's certificate was not valid at ", Rfc3339(at), ": ",
                                                   st.message()));
  }
  return absl::StrCat(what, "; certificate ", (*cert)->SubjectCommonName(), " valid at that time");
}

}  // namespace

int VerifyCommand(const std::vector<std::string>& args) {
  auto flags = cli::ParseFlags(args, {});
  if (!flags.ok()) return std::cerr << "caselinkctl verify: " << flags.status().message() << "\n" << kUsage, 2;
  if (flags->help) return std::cout << kUsage, 0;
  if (flags->positional.size() != 1) return std::cerr << kUsage, 2;
  auto bytes = cli::ReadFile(flags->positional[0]);
  if (!bytes.ok()) return cli::Fail(bytes.status());
  auto loaded = Load(*bytes, flags->Get("type"));
  if (!loaded.ok()) return cli::Fail(loaded.status());
  auto verified = Verify(*flags, *loaded);
  if (!verified.ok()) {
    std::cout << "NOT VALID: " << verified.status().message() << "\n";
    return 1;
  }
  std::cout << "VALID: " << *verified << "\n";
  return 0;
}

}  // namespace caselink
