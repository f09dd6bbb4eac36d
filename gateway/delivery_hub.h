// Wakes the streams of agencies that have new deliveries. Notifications are
// handed to the hub's own thread so the store's writer never waits on a stream.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

namespace caselink {

class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // Called on the hub thread; must not block.
  virtual void OnDeliveriesAvailable() = 0;
};

class DeliveryHub {
 public:
  DeliveryHub();
  ~DeliveryHub();
  DeliveryHub(const DeliveryHub&) = delete;
  DeliveryHub& operator=(const DeliveryHub&) = delete;

  void AddListener(const std::string& agency, DeliveryListener* listener);
  // After this returns the listener is never called again.
  void RemoveListener(const std::string& agency, DeliveryListener* listener);
  // Non-blocking: marks `agency` as having new deliveries. Called while a
  // group commit's Dones run, the hub thread is woken once, after the last.
  void Notify(const std::string& agency);

  // Times the hub thread has woken with agencies to tell listeners about.
  uint64_t rounds() const { return rounds_.load(std::memory_order_relaxed); }

 private:
  void Run();
  void Wake();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> dirty_;
  // A wake-up is on its way for what dirty_ holds (deferred to the end of
  // the group being answered), and one has arrived.
  bool wake_scheduled_ = false;
  bool wake_ = false;
  std::unordered_multimap<std::string, DeliveryListener*> listeners_;
  // Held while listeners are called, so removal waits for a call in progress.
  std::mutex call_mu_;
  std::atomic<uint64_t> rounds_{0};
  std::thread thread_;
};

}  // namespace caselink
