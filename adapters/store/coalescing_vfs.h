// A SQLite VFS that wraps the default one and gathers the contiguous writes of a
// WAL file into large ones, so a group commit costs a few system calls, not two per frame.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace caselink::sqlite_internal {

// The name to pass to sqlite3_open_v2 once RegisterCoalescingVfs succeeded.
inline constexpr char kCoalescingVfsName[] = "caselink-coalescing";

// Registers the shim with SQLite (not as the default VFS). Safe to call from
// any thread, any number of times; the registration happens once and every
// call returns its outcome.
//
// Only for connections with PRAGMA synchronous=FULL: frames wait in memory
// until SQLite syncs the WAL, and under FULL that happens before a commit is
// published to other connections. Under NORMAL a commit is published without
// a sync, so another connection could look for a frame that is still buffered.
absl::Status RegisterCoalescingVfs();

// Totals over every WAL file opened through the shim since the process
// started; tests and benchmarks compare them before and after some work.
struct CoalescingVfsCounters {
  uint64_t writes = 0;         // xWrite calls SQLite made on WAL files
  // Writes the shim issued to the real file: one per 124 KiB of a run (the
  // unix VFS takes less than 128 KiB per call).
  uint64_t flushes = 0;
  uint64_t flushed_bytes = 0;  // bytes those writes wrote
  uint64_t reads = 0;          // xRead calls on WAL files (each flushes first)
};
CoalescingVfsCounters GetCoalescingVfsCounters();

}  // namespace caselink::sqlite_internal
