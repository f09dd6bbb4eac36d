// CPU time and memory of a process, read from /proc, so that a load run can be
// charged to the gateway that served it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace caselink::loadgen {

struct ProcessStats {
  double cpu_seconds = 0;       // user + system, all threads, since the process started
  uint64_t rss_bytes = 0;       // VmRSS: resident now
  uint64_t peak_rss_bytes = 0;  // VmHWM: highest resident since start or the last ResetPeakRss
};

// Reads /proc/<pid>/stat and /proc/<pid>/status.
absl::StatusOr<ProcessStats> ReadProcessStats(int pid);

struct ThreadCpu {
  std::string name;  // comm: threads started without a name carry the process's
  double user_seconds = 0;
  double system_seconds = 0;
  int nice = 0;
  // Context switches: the thread waited (voluntary), or was preempted.
  uint64_t voluntary_switches = 0;
  uint64_t involuntary_switches = 0;
  // Time the thread was ready to run and waited for a CPU (the kernel's
  // schedstat run delay): on a saturated machine, how long each stage queues
  // for a turn. Empty where the kernel keeps no schedstat.
  std::optional<double> cpu_wait_seconds;
};

// Every thread of `pid` by thread id, from /proc/<pid>/task/*/stat and status. Threads
// that end between listing and reading are skipped.
std::map<int, ThreadCpu> ReadThreadCpu(int pid);

// Restarts the kernel's peak-RSS count (VmHWM) of `pid` at its current RSS by
// writing "5" to /proc/<pid>/clear_refs, so the peak covers only what follows.
// Needs the right to write there (the process's owner).
absl::Status ResetPeakRss(int pid);

// CPUs this process may run on (its affinity mask), at least 1.
int UsableCpuCount();

// "model name" of the first CPU in /proc/cpuinfo, or "unknown".
std::string CpuModelName();

// MemTotal from /proc/meminfo, or 0.
uint64_t MemoryTotalBytes();

// The 1-minute load average from /proc/loadavg (runnable tasks, this run's
// included), or -1: on a shared machine it says how much a run had to share.
double LoadAverage1m();

}  // namespace caselink::loadgen
