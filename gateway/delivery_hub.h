// Wakes the streams of agencies that have new deliveries. Notifications are
// handed to the hub's own thread so the store's writer never waits on a stream.
#pragma once

#include <condition_variable>
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
  // Non-blocking: marks `agency` as having new deliveries.
  void Notify(const std::string& agency);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> dirty_;
  std::unordered_multimap<std::string, DeliveryListener*> listeners_;
  // Held while listeners are called, so removal waits for a call in progress.
  std::mutex call_mu_;
  std::thread thread_;
};

}  // namespace caselink
