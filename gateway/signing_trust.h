// Trust in agency certificates: signing certificates against the signing CA, TLS client
// certificates against the TLS client CA, both against the registry's CRL files, which are
// reloaded when they change, with each result cached per certificate.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "security/certificate.h"

namespace caselink {

// What a CRL (re)load found, for the log and the audit trail.
struct CrlLoadEvent {
  // OK: `crls` are now in force. Otherwise the files could not be used and the
  // CRLs in force before stay so (revocation never silently switches off).
  absl::Status status;
  std::vector<std::string> files;
  std::vector<security::CrlInfo> crls;
  bool initial = false;  // the load at start, not a reload
};

// A short description of a CRL set: issuer, number and thisUpdate of each.
std::string DescribeCrls(const std::vector<security::CrlInfo>& crls);

class SigningTrust {
 public:
  using Listener = std::function<void(const CrlLoadEvent&)>;

  // `crl_files` may be empty (no revocation checking). A CRL file that cannot be
  // read or verified at start is an error naming the file.
  // `tls_anchors_pem` is the CA of agency TLS client certificates; empty means the
  // signing CA. When it differs from the signing CA, each CRL in the files applies to
  // the CA that issued it: signing certificates are checked against the signing CA's
  // CRLs, TLS certificates against the TLS CA's, and a CRL issued by neither is an
  // error. A CA with no CRL in the files has its certificates' revocation unchecked.
  static absl::StatusOr<std::unique_ptr<SigningTrust>> Create(std::string anchors_pem,
                                                              std::vector<std::string> crl_files,
                                                              absl::Duration recheck_interval = absl::Seconds(1),
                                                              std::string tls_anchors_pem = "");

  // Validates a signing certificate at `at`: chain, validity, keyUsage digitalSignature,
  // revocation. A success is remembered for `cert` (by address; the certificate must
  // outlive this object) for as long as nothing it depends on can change: until the
  // certificate's notAfter, the anchors' notAfter and the CRLs' nextUpdate, and only for
  // the CRL set it was checked against. Looks for changed CRL files first (rate-limited).
  absl::Status Validate(const security::Certificate& cert, absl::Time at);

  // The same for an agency TLS client certificate: chain to the TLS CA, validity,
  // extendedKeyUsage clientAuth, revocation; cached the same way, apart from
  // signing certificates. The TLS handshake already checked the chain at wall-clock
  // time; this adds the CRLs in force and the gateway's time, on every RPC.
  absl::Status ValidateTlsClient(const security::Certificate& cert, absl::Time at);

  // Stats the CRL files and reloads them when one changed (size, mtime or inode), at
  // most once per recheck interval unless `force`. Returns whether a reload happened.
  bool CheckCrlFiles(bool force = false);

  // Told of every (re)load attempt after start, on the thread that noticed it.
  void SetListener(Listener listener);
  // The event of the load at start.
  const CrlLoadEvent& initial_load() const { return initial_load_; }
  // Counts CRL sets: changes on every successful reload.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // How many Validate calls built a chain (for tests and metrics).
  uint64_t chain_validations() const { return chain_validations_.load(std::memory_order_relaxed); }

 private:
  struct FileStamp {
    int64_t size = -1;
    int64_t mtime_ns = 0;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Snapshot {
    std::shared_ptr<const security::ChainValidator> validator;
    // The same object as `validator` when the TLS CA is the signing CA.
    std::shared_ptr<const security::ChainValidator> tls_validator;
    uint64_t generation = 0;
    absl::Time valid_from = absl::InfinitePast();  // latest CRL thisUpdate
    absl::Time valid_until = absl::InfiniteFuture();  // earliest CRL nextUpdate / anchor notAfter
  };
  struct CacheEntry {
    uint64_t generation = 0;
    absl::Time from;
    absl::Time until;
  };

  SigningTrust() = default;
  // Reads and verifies every CRL file; on success installs them as a new generation.
  CrlLoadEvent Load(bool initial);
  Snapshot Current() const;
  absl::Status ValidateCached(const security::Certificate& cert, absl::Time at, bool tls);

  std::string anchors_pem_;
  std::string tls_anchors_pem_;  // empty: the signing CA
  std::vector<std::string> crl_files_;
  absl::Time anchors_not_after_ = absl::InfiniteFuture();
  absl::Duration recheck_interval_;
  CrlLoadEvent initial_load_;

  mutable std::mutex mu_;
  Snapshot current_;                        // guarded by mu_
  std::vector<FileStamp> stamps_;           // guarded by mu_
  std::unordered_map<const security::Certificate*, CacheEntry> cache_;  // guarded by mu_
  std::unordered_map<const security::Certificate*, CacheEntry> tls_cache_;  // guarded by mu_
  Listener listener_;                       // guarded by mu_

  std::mutex reload_mu_;  // one reload at a time
  std::atomic<int64_t> next_check_unix_nanos_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> chain_validations_{0};
};

}  // namespace caselink
