// Certificate trust for signing and TLS client certificates: CRL reloads by file stamp and
// validation caches bounded by every time the answer could change, so the steady state
// builds no chain per request.
#include "gateway/signing_trust.h"

#include <sys/stat.h>

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config.h"

namespace caselink {

std::string DescribeCrls(const std::vector<security::CrlInfo>& crls) {
  if (crls.empty()) return "no CRLs (revocation not checked)";
  std::vector<std::string> parts;
  for (const auto& crl : crls) {
    parts.push_back(absl::StrCat("CRL of \"", crl.issuer, "\" number ", crl.number.empty() ? "(none)" : crl.number,
                                 " thisUpdate ", absl::FormatTime(absl::RFC3339_sec, crl.this_update, absl::UTCTimeZone()),
                                 " nextUpdate ",
                                 crl.next_update == absl::InfiniteFuture()
                                     ? std::string("(none)")
                                     : absl::FormatTime(absl::RFC3339_sec, crl.next_update, absl::UTCTimeZone()),
                                 ", ", crl.revoked_count, " revoked"));
  }
  return absl::StrJoin(parts, "; ");
}

absl::StatusOr<std::unique_ptr<SigningTrust>> SigningTrust::Create(std::string anchors_pem,
                                                                   std::vector<std::string> crl_files,
                                                                   absl::Duration recheck_interval,
                                                                   std::string tls_anchors_pem) {
  std::unique_ptr<SigningTrust> t(new SigningTrust());
  auto anchors = security::Certificate::BundleFromPem(anchors_pem);
  if (!anchors.ok()) return anchors.status();
  for (const auto& anchor : *anchors) t->anchors_not_after_ = std::min(t->anchors_not_after_, anchor->not_after());
  // The same CA given twice is one CA: every CRL applies to both kinds of certificate.
  if (tls_anchors_pem != anchors_pem && !tls_anchors_pem.empty()) {
    auto tls_anchors = security::Certificate::BundleFromPem(tls_anchors_pem);
    if (!tls_anchors.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("TLS client CA: ", tls_anchors.status().message()));
    }
    for (const auto& anchor : *tls_anchors) t->anchors_not_after_ = std::min(t->anchors_not_after_, anchor->not_after());
    t->tls_anchors_pem_ = std::move(tls_anchors_pem);
  }
  t->anchors_pem_ = std::move(anchors_pem);
  t->crl_files_ = std::move(crl_files);
  t->recheck_interval_ = recheck_interval;
  t->initial_load_ = t->Load(/*initial=*/true);
  if (!t->initial_load_.status.ok()) return t->initial_load_.status;
  t->next_check_unix_nanos_ = absl::ToUnixNanos(absl::Now() + recheck_interval);
  return t;
}

namespace {

// A file's identity and version as far as a reload cares; size -1 when it cannot be read.
struct Stamp {
  int64_t size = -1;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
};

Stamp StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<uint64_t>(st.st_ino)};
}

// The PEM blocks of the CRLs in `pem`, one per CRL, in order.
std::vector<std::string> SplitCrlPem(const std::string& pem) {
  static constexpr std::string_view kBegin = "-----BEGIN X509 CRL-----";
  static constexpr std::string_view kEnd = "-----END X509 CRL-----";
  std::vector<std::string> blocks;
  size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != std::string::npos) {
    size_t end = pem.find(kEnd, pos);
    if (end == std::string::npos) break;
    end += kEnd.size();
    blocks.push_back(pem.substr(pos, end - pos) + "\n");
    pos = end;
  }
  return blocks;
}

// A validator for `anchors` with `crls_pem`, or without revocation checking when none.
absl::StatusOr<std::unique_ptr<security::ChainValidator>> BuildValidator(const std::string& anchors,
                                                                        const std::string& crls_pem) {
  return crls_pem.empty() ? security::ChainValidator::Create(anchors) : security::ChainValidator::Create(anchors, crls_pem);
}

}  // namespace

CrlLoadEvent SigningTrust::Load(bool initial) {
  CrlLoadEvent event;
  event.initial = initial;
  event.files = crl_files_;
  // Stamped before reading: a write racing the read changes the stamp again and is
  // picked up by the next check.
  std::vector<FileStamp> stamps;
  std::string pem;
  for (const std::string& file : crl_files_) {
    const Stamp s = StatFile(file);
    stamps.push_back({s.size, s.mtime_ns, s.inode});
    auto text = ReadFileToString(file);
    if (!text.ok()) {
      event.status = absl::InvalidArgumentError(absl::StrCat("signing CRL file ", file, ": ", text.status().message()));
      break;
    }
    auto info = security::InspectCrls(*text);
    if (!info.ok()) {
      event.status = absl::InvalidArgumentError(absl::StrCat("signing CRL file ", file, ": ", info.status().message()));
      break;
    }
    event.crls.insert(event.crls.end(), info->begin(), info->end());
    absl::StrAppend(&pem, *text, "\n");
  }
  Snapshot next;
  // With a separate TLS CA, each CRL goes to the CA that signed it (which
  // ChainValidator::Create proves); otherwise all of them serve both purposes.
  std::string signing_pem = pem;
  std::string tls_pem;
  if (event.status.ok() && !tls_anchors_pem_.empty()) {
    signing_pem.clear();
    for (const std::string& block : SplitCrlPem(pem)) {
      auto as_signing = security::ChainValidator::Create(anchors_pem_, block);
      const bool for_tls = security::ChainValidator::Create(tls_anchors_pem_, block).ok();
      if (as_signing.ok()) absl::StrAppend(&signing_pem, block);
      if (for_tls) absl::StrAppend(&tls_pem, block);
      if (!as_signing.ok() && !for_tls) {
        event.status = absl::InvalidArgumentError(
            absl::StrCat("CRLs ", absl::StrJoin(crl_files_, ", "), ": ", as_signing.status().message(),
                         " (nor is it a CRL of the TLS client CA)"));
        break;
      }
    }
  }
  if (event.status.ok()) {
    auto validator = BuildValidator(anchors_pem_, crl_files_.empty() ? std::string() : signing_pem);
    if (!validator.ok()) {
      event.status = absl::InvalidArgumentError(
          absl::StrCat("signing CRLs ", absl::StrJoin(crl_files_, ", "), ": ", validator.status().message()));
    } else {
      next.validator = std::move(*validator);
      next.tls_validator = next.validator;
      if (!tls_anchors_pem_.empty()) {
        auto tls_validator = BuildValidator(tls_anchors_pem_, tls_pem);
        if (!tls_validator.ok()) {
          event.status = absl::InvalidArgumentError(
              absl::StrCat("TLS CRLs ", absl::StrJoin(crl_files_, ", "), ": ", tls_validator.status().message()));
        } else {
          next.tls_validator = std::move(*tls_validator);
        }
      }
      next.valid_until = anchors_not_after_;
      for (const auto& crl : event.crls) {
        next.valid_from = std::max(next.valid_from, crl.this_update);
        next.valid_until = std::min(next.valid_until, crl.next_update);
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  // A failed reload keeps the CRLs in force but remembers the stamps, so one bad file
  // is reported once, not on every request; fixing it changes the stamp again.
  stamps_ = std::move(stamps);
  if (event.status.ok()) {
    next.generation = current_.generation + 1;
    current_ = std::move(next);
    cache_.clear();
    tls_cache_.clear();
    generation_.store(current_.generation, std::memory_order_release);
  }
  return event;
}

SigningTrust::Snapshot SigningTrust::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void SigningTrust::SetListener(Listener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

bool SigningTrust::CheckCrlFiles(bool force) {
  if (crl_files_.empty()) return false;
  const int64_t now = absl::ToUnixNanos(absl::Now());
  if (!force) {
    int64_t due = next_check_unix_nanos_.load(std::memory_order_relaxed);
    if (now < due) return false;
    // One thread per interval does the stat; the others go on with the CRLs in force.
    if (!next_check_unix_nanos_.compare_exchange_strong(due, now + absl::ToInt64Nanoseconds(recheck_interval_))) {
      return false;
    }
  }
  std::lock_guard<std::mutex> reload(reload_mu_);
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < crl_files_.size(); ++i) {
      const Stamp s = StatFile(crl_files_[i]);
      if (i >= stamps_.size() || !(stamps_[i] == FileStamp{s.size, s.mtime_ns, s.inode})) changed = true;
    }
  }
  if (!changed) return false;
  CrlLoadEvent event = Load(/*initial=*/false);
  Listener listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  if (listener) listener(event);
  return event.status.ok();
}

absl::Status SigningTrust::Validate(const security::Certificate& cert, absl::Time at) {
  return ValidateCached(cert, at, /*tls=*/false);
}

absl::Status SigningTrust::ValidateTlsClient(const security::Certificate& cert, absl::Time at) {
  return ValidateCached(cert, at, /*tls=*/true);
}

absl::Status SigningTrust::ValidateCached(const security::Certificate& cert, absl::Time at, bool tls) {
  CheckCrlFiles();
  Snapshot snap;
  {
    // The steady state: one lock and one lookup, no chain building.
    std::lock_guard<std::mutex> lock(mu_);
    const auto& cache = tls ? tls_cache_ : cache_;
    auto it = cache.find(&cert);
    if (it != cache.end() && it->second.generation == current_.generation && at >= it->second.from &&
        at < it->second.until) {
      return absl::OkStatus();
    }
    snap = current_;
  }
  chain_validations_.fetch_add(1, std::memory_order_relaxed);
  absl::Status st = tls ? snap.tls_validator->Validate(cert, at, security::KeyPurpose::kTlsClient)
                        : snap.validator->Validate(cert, at, security::KeyPurpose::kSigning);
  if (!st.ok()) return st;
  CacheEntry entry{snap.generation, std::max(cert.not_before(), snap.valid_from),
                   std::min(cert.not_after(), snap.valid_until)};
  if (at >= entry.from && at < entry.until) {
    std::lock_guard<std::mutex> lock(mu_);
    // Only for the CRL set it was checked against; a reload meanwhile cleared the cache.
    if (current_.generation == snap.generation) (tls ? tls_cache_ : cache_)[&cert] = entry;
  }
  return absl::OkStatus();
}

}  // namespace caselink
