// A same-run baseline for latency: how long the disk under the store takes to
// make a small write durable, sampled beside a load run.
//
// The gateway answers a request only after the group commit holding it has
// been synced. When the disk stalls every sync for 100 ms, no durable store on
// that disk can answer the requests that arrive meanwhile any sooner, however
// little CPU it uses. The probe writes 4 KiB into a file of its own in the
// store's directory and fdatasyncs it every few milliseconds; from how long
// those syncs took, SummarizeDiskSyncs works out the latency floor such stalls
// put under an open-loop schedule, so a run's p99 can be read beside what the
// disk allowed in the same seconds.
//
// The floor assumes a stall holds up every sync on the device, not just the
// probe's (a flush of the disk's write cache does; two processes syncing
// their own files on this kind of machine stall at the same moments). The
// probe's own syncs also wait for the store's writes queued before them, so
// a stall the store's load causes counts as well.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace caselink::loadgen {

struct DiskProbeOptions {
  std::filesystem::path dir;  // on the same filesystem as the store
  absl::Duration interval = absl::Milliseconds(5);
  size_t write_bytes = 4096;
  size_t file_bytes = 1 << 20;  // written and synced before the first sample, so samples never allocate
};

struct DiskProbeSamples {
  std::vector<double> sync_ms;  // each write + fdatasync, in order
  double seconds = 0;           // from the first sample's start to the last one's end
  absl::Status error;           // the first failed write or sync, if any (sampling stopped there)
};

class DiskProbe {
 public:
  // Creates the probe's file in `options.dir` and starts sampling on a thread.
  static absl::StatusOr<std::unique_ptr<DiskProbe>> Start(const DiskProbeOptions& options);

  DiskProbe(const DiskProbe&) = delete;
  DiskProbe& operator=(const DiskProbe&) = delete;
  ~DiskProbe();

  // Stops sampling, removes the file and returns what was measured. Later
  // calls return nothing.
  DiskProbeSamples Stop();

 private:
  class Impl;
  explicit DiskProbe(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct DiskStalls {
  size_t syncs = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  size_t stalls = 0;       // syncs that took longer than the stall threshold
  double stall_ms = 0;     // their durations added up
  // The share of an evenly spread schedule over the probed time that arrives
  // where no sync could finish within the threshold: sum(max(0, d - threshold))
  // over the syncs, divided by the probed time.
  double share_beyond_threshold = 0;
  // The smallest latency L such that at most 1 - quantile of the schedule
  // arrives where no sync could finish within L: a durable store's floor for
  // that latency quantile in these seconds. 0 when nothing stalled enough.
  double latency_floor_ms = 0;
};

// Summarises probe samples. A request that arrives at t while a sync started
// at s is stalled until s + d cannot be durable before s + d, so it waits at
// least s + d - t; over the stall those waits run from d down to 0.
DiskStalls SummarizeDiskSyncs(const std::vector<double>& sync_ms, double seconds, double stall_threshold_ms,
                              double quantile);

}  // namespace caselink::loadgen
