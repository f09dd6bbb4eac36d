// Signers and verifiers are shared by the gateway's threads: several threads signing and
// verifying with one object at once must each get correct answers, for every algorithm. The
// signatures made under contention are checked again afterwards by verifiers nobody else used.
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "security/ecdsa_p256.h"
#include "security/ed25519.h"
#include "security/pki.h"
#include "security/signature.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

constexpr int kThreads = 4;

struct Objects {
  std::unique_ptr<Signer> signer;
  std::unique_ptr<Verifier> shared_verifier;  // used by every thread at once
  std::unique_ptr<Verifier> fresh_verifier;   // used afterwards, by this thread only
  std::unique_ptr<Verifier> other_key;        // a verifier of another key: must refuse
};

struct Outcome {
  std::vector<std::string> messages;
  std::vector<std::string> signatures;
  int sign_failures = 0;
  int own_refused = 0;       // a correct signature the shared verifier refused
  int tampered_accepted = 0;  // a signature accepted over a different message
  int foreign_accepted = 0;   // another thread's signature accepted over this thread's message
};

// Every thread signs its own messages with the shared signer, verifies them with the shared
// verifier, and checks that the shared verifier refuses a changed message and a signature of
// the other message, all while the other threads do the same.
void RunConcurrently(const Objects& o, int per_thread) {
  std::vector<Outcome> outcomes(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Outcome& out = outcomes[t];
      start.arrive_and_wait();
      std::string previous_signature;
      for (int i = 0; i < per_thread; ++i) {
        const std::string message = absl::StrCat("envelope ", t, "/", i, " ", std::string(i % 7 * 40, 'x'));
        absl::StatusOr<std::string> signature = o.signer->Sign(message);
        if (!signature.ok()) {
          ++out.sign_failures;
          continue;
        }
        if (!o.shared_verifier->Verify(*signature, message).ok()) ++out.own_refused;
        if (o.shared_verifier->Verify(*signature, message + "!").ok()) ++out.tampered_accepted;
        if (!previous_signature.empty() && o.shared_verifier->Verify(previous_signature, message).ok()) {
          ++out.foreign_accepted;
        }
        previous_signature = *signature;
        out.messages.push_back(message);
        out.signatures.push_back(*std::move(signature));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    const Outcome& out = outcomes[t];
    EXPECT_EQ(out.sign_failures, 0) << "thread " << t;
    EXPECT_EQ(out.own_refused, 0) << "thread " << t;
    EXPECT_EQ(out.tampered_accepted, 0) << "thread " << t;
    EXPECT_EQ(out.foreign_accepted, 0) << "thread " << t;
    ASSERT_EQ(out.signatures.size(), static_cast<size_t>(per_thread)) << "thread " << t;
    for (size_t i = 0; i < out.signatures.size(); ++i) {
      EXPECT_TRUE(o.fresh_verifier->Verify(out.signatures[i], out.messages[i]).ok()) << "thread " << t << " #" << i;
      EXPECT_EQ(o.other_key->Verify(out.signatures[i], out.messages[i]).code(), absl::StatusCode::kUnauthenticated)
          << "thread " << t << " #" << i;
    }
  }
}

template <typename T>
std::unique_ptr<T> Must(absl::StatusOr<std::unique_ptr<T>> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : nullptr;
}

KeyPair MustKey(absl::StatusOr<KeyPair> key) {
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *std::move(key) : KeyPair{};
}

TEST(SignatureConcurrencyTest, EcdsaP256SignerAndVerifierSharedByThreads) {
  const KeyPair key = MustKey(GenerateEcP256KeyPair());
  const KeyPair other = MustKey(GenerateEcP256KeyPair());
  Objects o;
  o.signer = Must(EcdsaP256Signer::Create(key.private_key_pem, "k1"));
  o.shared_verifier = Must(EcdsaP256Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.fresh_verifier = Must(EcdsaP256Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.other_key = Must(EcdsaP256Verifier::CreateFromPublicKeyPem(other.public_key_pem));
  ASSERT_TRUE(o.signer && o.shared_verifier && o.fresh_verifier && o.other_key);
  RunConcurrently(o, 200);
}

TEST(SignatureConcurrencyTest, Ed25519SignerAndVerifierSharedByThreads) {
  const KeyPair key = MustKey(GenerateEd25519KeyPair());
  const KeyPair other = MustKey(GenerateEd25519KeyPair());
  Objects o;
  o.signer = Must(Ed25519Signer::Create(key.private_key_pem, "k1"));
  o.shared_verifier = Must(Ed25519Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.fresh_verifier = Must(Ed25519Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.other_key = Must(Ed25519Verifier::CreateFromPublicKeyPem(other.public_key_pem));
  ASSERT_TRUE(o.signer && o.shared_verifier && o.fresh_verifier && o.other_key);
  RunConcurrently(o, 200);
}

TEST(SignatureConcurrencyTest, Sm2SignerAndVerifierSharedByThreads) {
  const KeyPair key = MustKey(GenerateSm2KeyPair());
  const KeyPair other = MustKey(GenerateSm2KeyPair());
  Objects o;
  o.signer = Must(Sm2Signer::Create(key.private_key_pem, "k1"));
  o.shared_verifier = Must(Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.fresh_verifier = Must(Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  o.other_key = Must(Sm2Verifier::CreateFromPublicKeyPem(other.public_key_pem));
  ASSERT_TRUE(o.signer && o.shared_verifier && o.fresh_verifier && o.other_key);
  RunConcurrently(o, 40);
}

// A verifier made with one SM2 user id refuses, under contention too, signatures made with
// another: the id set up once in the shared context must not leak between objects.
TEST(SignatureConcurrencyTest, Sm2UserIdStaysWithItsObject) {
  const KeyPair key = MustKey(GenerateSm2KeyPair());
  auto alice = Must(Sm2Signer::Create(key.private_key_pem, "k1", "alice@example"));
  auto default_id = Must(Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem));
  auto alice_verifier = Must(Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem, "alice@example"));
  ASSERT_TRUE(alice && default_id && alice_verifier);
  std::latch start(2);
  int wrong = 0;
  int right = 0;
  std::thread other([&] {
    start.arrive_and_wait();
    for (int i = 0; i < 20; ++i) {
      auto sig = alice->Sign("m");
      if (sig.ok() && alice_verifier->Verify(*sig, "m").ok()) ++right;
    }
  });
  start.arrive_and_wait();
  for (int i = 0; i < 20; ++i) {
    auto sig = alice->Sign("m");
    if (sig.ok() && default_id->Verify(*sig, "m").ok()) ++wrong;
  }
  other.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(right, 20);
}

}  // namespace
}  // namespace caselink::security
