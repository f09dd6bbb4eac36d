// Gateway keyring: loading, profile checks and rotation of the receipt-signing key.
#include "gateway/gateway_keyring.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/crypto_profile.h"
#include "security/certificate.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

struct LoadedKeys {
  std::shared_ptr<const GatewaySigningKey> current;
  std::vector<GatewayKeyInfo> previous;
};

absl::StatusOr<LoadedKeys> LoadKeys(const v1::GatewayConfig& config) {
  const v1::SigningKeyConfig& cfg = config.gateway_signing_key();
  auto key_pem = ReadFileToString(cfg.private_key_file());
  if (!key_pem.ok()) return key_pem.status();
  auto algorithm = security::SignatureAlgorithmOfPrivateKey(*key_pem);
  if (!algorithm.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("gateway_signing_key: ", algorithm.status().message()));
  }
  if (!SignatureAllowed(config.profile(), *algorithm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gateway_signing_key: ", cfg.private_key_file(), " is for ", security::SignatureAlgorithmName(*algorithm),
        ", which the ", ProfileName(config.profile()), " profile does not allow; give the gateway a ",
        AllowedSignatureNames(config.profile()), " key"));
  }
  auto signer = security::CreateSigner(*algorithm, *key_pem, cfg.key_id());
  if (!signer.ok()) return absl::InvalidArgumentError(absl::StrCat("gateway_signing_key: ", signer.status().message()));
  auto key = std::make_shared<GatewaySigningKey>();
  key->signer = std::move(*signer);
  if (!cfg.certificate_file().empty()) {
    auto cert = ReadFileToString(cfg.certificate_file());
    if (!cert.ok()) return cert.status();
    key->certificate_pem = std::move(*cert);
  }
  LoadedKeys out;
  out.current = std::move(key);
  for (const v1::SigningKeyConfig& previous : config.previous_gateway_signing_keys()) {
    auto pem = ReadFileToString(previous.certificate_file());
    if (!pem.ok()) return pem.status();
    auto cert = security::Certificate::FromPem(*pem);
    if (!cert.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("previous_gateway_signing_keys '", previous.key_id(), "' (",
                                                     previous.certificate_file(), "): ", cert.status().message()));
    }
    auto verifier = security::CreateVerifierFromCertificate(**cert);
    if (!verifier.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("previous_gateway_signing_keys '", previous.key_id(),
                                                     "': ", verifier.status().message()));
    }
    out.previous.push_back({previous.key_id(), (*verifier)->algorithm(), *pem});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayKeyring>> GatewayKeyring::Create(const v1::GatewayConfig& config) {
  auto keys = LoadKeys(config);
  if (!keys.ok()) return keys.status();
  std::unique_ptr<GatewayKeyring> ring(new GatewayKeyring());
  ring->current_ = keys->current;
  ring->previous_ = std::move(keys->previous);
  ring->history_.push_back(keys->current);
  return ring;
}

absl::StatusOr<std::pair<std::string, std::string>> GatewayKeyring::Reload(const v1::GatewayConfig& config) {
  auto keys = LoadKeys(config);
  if (!keys.ok()) return keys.status();
  std::lock_guard<std::mutex> lock(mu_);
  std::string before = current_->signer->key_id();
  std::string after = keys->current->signer->key_id();
  std::vector<GatewayKeyInfo> previous = std::move(keys->previous);
  const bool listed = std::any_of(previous.begin(), previous.end(), [&](const auto& k) { return k.key_id == before; });
  if (before != after && !listed) {
    previous.insert(previous.begin(), {before, current_->signer->algorithm(), current_->certificate_pem});
  }
  current_ = keys->current;
  previous_ = std::move(previous);
  history_.push_back(current_);
  return std::make_pair(before, after);
}

std::shared_ptr<const GatewaySigningKey> GatewayKeyring::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::vector<GatewayKeyInfo> GatewayKeyring::Published() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<GatewayKeyInfo> out;
  out.push_back({current_->signer->key_id(), current_->signer->algorithm(), current_->certificate_pem});
  for (const auto& k : previous_) {
    if (k.key_id != out.front().key_id) out.push_back(k);
  }
  return out;
}

absl::StatusOr<std::string> GatewayKeyring::Sign(absl::string_view data) const { return Current()->signer->Sign(data); }

security::SignatureAlgorithm GatewayKeyring::algorithm() const { return Current()->signer->algorithm(); }

const std::string& GatewayKeyring::key_id() const { return Current()->signer->key_id(); }

void AddGatewayKeys(const GatewayKeyring& keys, v1::GatewayInfo& info) {
  bool first = true;
  for (const GatewayKeyInfo& k : keys.Published()) {
    v1::GatewayKey* key = info.add_keys();
    key->set_key_id(k.key_id);
    key->set_algorithm(ToProtoAlgorithm(k.algorithm));
    key->set_certificate_pem(k.certificate_pem);
    key->set_current(first);
    first = false;
  }
}

}  // namespace caselink
