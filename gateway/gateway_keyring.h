// The gateway's own signing identity: the current receipt-signing key and the
// certificates of previous keys, replaceable while serving (rotation on SIGHUP).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "caselink/v1/config.pb.h"
#include "caselink/v1/services.pb.h"
#include "security/signature.h"

namespace caselink {

// One key as GetGatewayInfo publishes it.
struct GatewayKeyInfo {
  std::string key_id;
  security::SignatureAlgorithm algorithm = security::SignatureAlgorithm::kEcdsaP256Sha256;
  std::string certificate_pem;
};

// The current key: what signs, and the certificate to verify it with.
struct GatewaySigningKey {
  std::unique_ptr<security::Signer> signer;
  std::string certificate_pem;
};

class GatewayKeyring final : public security::Signer {
 public:
  // Reads gateway_signing_key (private key and certificate) and the certificates
  // of previous_gateway_signing_keys; the key must be of the profile's family.
  static absl::StatusOr<std::unique_ptr<GatewayKeyring>> Create(const v1::GatewayConfig& config);

  // Replaces the keys with those of `config` (checked as in Create; on error nothing
  // changes). The key that was current becomes a previous key unless the new
  // config lists it. Callers serialize this with signing that reads key_id() apart
  // from Sign() (the gateway runs it on the store's writer thread, where receipts are
  // signed). Returns the key ids before and after.
  absl::StatusOr<std::pair<std::string, std::string>> Reload(const v1::GatewayConfig& config);

  // The current key; stays valid (and consistent) after a rotation. Use it where
  // signing is not on the writer thread (tree heads, case bundles).
  std::shared_ptr<const GatewaySigningKey> Current() const;
  // Current first, then the previous keys.
  std::vector<GatewayKeyInfo> Published() const;

  // security::Signer, by the current key.
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;
  security::SignatureAlgorithm algorithm() const override;
  const std::string& key_id() const override;

 private:
  GatewayKeyring() = default;
  mutable std::mutex mu_;
  std::shared_ptr<const GatewaySigningKey> current_;
  std::vector<GatewayKeyInfo> previous_;
  // Every key that was ever current, so references from key_id() stay valid.
  std::vector<std::shared_ptr<const GatewaySigningKey>> history_;
};

// Current key first (current = true), then previous keys.
void AddGatewayKeys(const GatewayKeyring& keys, v1::GatewayInfo& info);

}  // namespace caselink
