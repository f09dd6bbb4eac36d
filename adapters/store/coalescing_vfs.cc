// The coalescing VFS: WAL writes are kept in one contiguous in-memory run and
// written in pieces of up to 124 KiB when SQLite syncs, reads, truncates or closes.
//
// Why this is safe (with PRAGMA synchronous=FULL, the only mode it is used in):
// - Visibility. At a commit SQLite writes the frames, syncs the WAL (xSync
//   flushes the run first) and only then appends the frames to the wal-index
//   and publishes the new header there. Other connections find frames only
//   through that index, so none can look for a frame that is still buffered;
//   frames written before the commit (a spilled page cache) are indexed but
//   stay beyond the published mxFrame, invisible to readers.
// - The writer's own reads. Every xRead, xFileSize and xTruncate flushes
//   first, so the writer reads back spilled frames and rewrites checksums over
//   what is really in the file, and the file's size is the real one.
// - Crashes. Frames lost from the buffer in a crash were never synced, so
//   SQLite had not reported their commit; an unsynced pwrite gives no more.
// - Sector padding. If the WAL file lacks SQLITE_IOCAP_POWERSAFE_OVERWRITE,
//   SQLite pads a commit to a sector boundary and writes part of the last
//   frame after the sync, then publishes it: the shim does not buffer such a
//   file at all.
// Under synchronous=NORMAL a commit is published without any xSync, so a
// reader could miss a frame still in the buffer: the store opens its writer
// through this VFS only when it is durable (FULL).
#include "adapters/store/coalescing_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"

namespace caselink::sqlite_internal {
namespace {

// Bounds the memory of one WAL file's run; a commit of a usual group (about
// 130 frames, 0.5 MiB) stays far below it and is written in one call.
constexpr size_t kMaxRunBytes = size_t{4} << 20;

std::atomic<uint64_t> g_writes{0};
std::atomic<uint64_t> g_flushes{0};
std::atomic<uint64_t> g_flushed_bytes{0};
std::atomic<uint64_t> g_reads{0};

// The pending run of one WAL file: bytes [start, start + data.size()).
struct Run {
  sqlite3_int64 start = 0;
  std::vector<unsigned char> data;
};

// What SQLite allocates for a file of this VFS (szOsFile bytes): this header,
// then the wrapped VFS's own file object at kRealOffset. A non-WAL file is
// opened by the wrapped VFS directly in the whole block and never sees this
// struct.
struct WalFile {
  sqlite3_file base;   // base.pMethods: this shim's methods
  sqlite3_file* real;  // the wrapped VFS's file, inside the same block
  Run* run;            // null: writes go straight through (no power-safe overwrite)
};

constexpr size_t kRealOffset =
    (sizeof(WalFile) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_vfs* RealVfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }
WalFile* Wal(sqlite3_file* file) { return reinterpret_cast<WalFile*>(file); }
sqlite3_file* Real(sqlite3_file* file) { return Wal(file)->real; }

// The unix VFS writes at most 128 KiB - 1 bytes per xWrite (it masks the
// length to 17 bits), so a run goes out in pieces below that, cut at 4 KiB
// file offsets so the kernel copies whole pages. Returns the bytes written
// before an error in `*written`.
constexpr sqlite3_int64 kMaxPieceBytes = 0x1ffff;
constexpr sqlite3_int64 kPieceAlign = 4096;

int WriteThrough(sqlite3_file* real, const unsigned char* data, sqlite3_int64 size, sqlite3_int64 offset,
                 sqlite3_int64* written) {
  *written = 0;
  while (*written < size) {
    const sqlite3_int64 at = offset + *written;
    sqlite3_int64 end = (at + kMaxPieceBytes) / kPieceAlign * kPieceAlign;
    if (end <= at) end = at + kMaxPieceBytes;
    end = std::min(end, offset + size);
    const int piece = static_cast<int>(end - at);
    g_flushes.fetch_add(1, std::memory_order_relaxed);
    if (const int rc = real->pMethods->xWrite(real, data + *written, piece, at); rc != SQLITE_OK) return rc;
    g_flushed_bytes.fetch_add(static_cast<uint64_t>(piece), std::memory_order_relaxed);
    *written += piece;
  }
  return SQLITE_OK;
}

// Writes the run to the file. On failure what was not written stays in the
// run, so nothing SQLite handed over is dropped: the caller returns the error
// and a later flush (the next sync, read or close) tries again.
int Flush(WalFile* file) {
  Run* run = file->run;
  if (run == nullptr || run->data.empty()) return SQLITE_OK;
  sqlite3_int64 written = 0;
  const int rc = WriteThrough(file->real, run->data.data(), static_cast<sqlite3_int64>(run->data.size()),
                              run->start, &written);
  if (rc == SQLITE_OK) {
    run->data.clear();  // keeps the capacity for the next commit
  } else if (written > 0) {
    run->data.erase(run->data.begin(), run->data.begin() + written);
    run->start += written;
  }
  return rc;
}

int Close(sqlite3_file* file) {
  WalFile* wal = Wal(file);
  const int flushed = Flush(wal);
  const int closed = wal->real->pMethods->xClose(wal->real);
  delete wal->run;
  wal->run = nullptr;
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  g_reads.fetch_add(1, std::memory_order_relaxed);
  if (const int rc = Flush(Wal(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xRead(Real(file), out, amount, offset);
}

// Appends to the run, growing it geometrically but never past the cap. False
// when memory is short: the caller writes directly instead (an exception must
// not cross SQLite's C frames).
bool Append(Run& run, const unsigned char* bytes, size_t size) {
  try {
    const size_t needed = run.data.size() + size;
    if (needed > run.data.capacity()) {
      run.data.reserve(std::min(kMaxRunBytes, std::max(needed, 2 * run.data.capacity())));
    }
    run.data.insert(run.data.end(), bytes, bytes + size);
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  g_writes.fetch_add(1, std::memory_order_relaxed);
  WalFile* wal = Wal(file);
  Run* run = wal->run;
  const auto* bytes = static_cast<const unsigned char*>(data);
  sqlite3_int64 written = 0;
  if (run == nullptr || amount <= 0) return WriteThrough(wal->real, bytes, amount, offset, &written);
  const auto size = static_cast<size_t>(amount);
  const sqlite3_int64 end = run->start + static_cast<sqlite3_int64>(run->data.size());
  if (!run->data.empty()) {
    // SQLite rewrites frames of the transaction it is writing (a page changed
    // again after it was spilled): such a write lands inside the run.
    if (offset >= run->start && offset + amount <= end) {
      std::memcpy(run->data.data() + (offset - run->start), bytes, size);
      return SQLITE_OK;
    }
    if (offset == end && run->data.size() + size <= kMaxRunBytes && Append(*run, bytes, size)) {
      return SQLITE_OK;
    }
    // Not contiguous, overlapping the end, over the cap or out of memory: the
    // run goes out first so the file sees the writes in SQLite's order.
    if (const int rc = Flush(wal); rc != SQLITE_OK) return rc;
  }
  if (size > kMaxRunBytes || !Append(*run, bytes, size)) {
    return WriteThrough(wal->real, bytes, amount, offset, &written);
  }
  run->start = offset;
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (const int rc = Flush(Wal(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xTruncate(Real(file), size);
}

int Sync(sqlite3_file* file, int flags) {
  if (const int rc = Flush(Wal(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xSync(Real(file), flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = Flush(Wal(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xFileSize(Real(file), size);
}

int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) { return Real(file)->pMethods->xUnlock(Real(file), level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}
int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return Real(file)->pMethods->xShmMap(Real(file), region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Real(file)->pMethods->xShmLock(Real(file), offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Real(file)->pMethods->xShmBarrier(Real(file)); }
int ShmUnmap(sqlite3_file* file, int delete_flag) { return Real(file)->pMethods->xShmUnmap(Real(file), delete_flag); }
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  // A mapping shows the file, so what is buffered must be in it.
  if (const int rc = Flush(Wal(file)); rc != SQLITE_OK) return rc;
  return Real(file)->pMethods->xFetch(Real(file), offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return Real(file)->pMethods->xUnfetch(Real(file), offset, page);
}

// SQLite reads a file's methods up to its iVersion, so the shim's methods
// carry the real file's version: one table per version.
constexpr sqlite3_io_methods MethodsOfVersion(int version) {
  return sqlite3_io_methods{
      version,         Close,      Read,      Write,     Truncate, Sync,         FileSize,
      Lock,            Unlock,     CheckReservedLock,    FileControl, SectorSize, DeviceCharacteristics,
      ShmMap,          ShmLock,    ShmBarrier, ShmUnmap, Fetch,     Unfetch,
  };
}
constexpr sqlite3_io_methods kMethods[] = {MethodsOfVersion(1), MethodsOfVersion(2), MethodsOfVersion(3)};

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* real_vfs = RealVfs(vfs);
  if ((flags & SQLITE_OPEN_WAL) == 0) {
    // Everything but a WAL is the wrapped VFS's own file, with its own
    // methods: no cost and no behaviour of the shim.
    return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
  }
  WalFile* wal = Wal(file);
  wal->base.pMethods = nullptr;  // until the real open succeeds, SQLite must not call xClose
  wal->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  wal->run = nullptr;
  wal->real->pMethods = nullptr;
  int rc = real_vfs->xOpen(real_vfs, name, wal->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (wal->real->pMethods != nullptr) wal->real->pMethods->xClose(wal->real);
    return rc;
  }
  const sqlite3_io_methods* real_methods = wal->real->pMethods;
  if (real_methods->iVersion < 1 || real_methods->iVersion > 3) {
    real_methods->xClose(wal->real);
    return SQLITE_CANTOPEN;
  }
  if ((real_methods->xDeviceCharacteristics(wal->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0) {
    wal->run = new (std::nothrow) Run();
    if (wal->run == nullptr) {
      real_methods->xClose(wal->real);
      return SQLITE_NOMEM;
    }
  }
  wal->base.pMethods = &kMethods[real_methods->iVersion - 1];
  return SQLITE_OK;
}

// The rest of the VFS is the wrapped one's, called with the wrapped VFS.
int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return RealVfs(vfs)->xDelete(RealVfs(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return RealVfs(vfs)->xAccess(RealVfs(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return RealVfs(vfs)->xFullPathname(RealVfs(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return RealVfs(vfs)->xDlOpen(RealVfs(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { RealVfs(vfs)->xDlError(RealVfs(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return RealVfs(vfs)->xDlSym(RealVfs(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { RealVfs(vfs)->xDlClose(RealVfs(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) { return RealVfs(vfs)->xRandomness(RealVfs(vfs), size, out); }
int Sleep(sqlite3_vfs* vfs, int micros) { return RealVfs(vfs)->xSleep(RealVfs(vfs), micros); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return RealVfs(vfs)->xCurrentTime(RealVfs(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return RealVfs(vfs)->xGetLastError(RealVfs(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return RealVfs(vfs)->xCurrentTimeInt64(RealVfs(vfs), out);
}
int SetSystemCall(sqlite3_vfs* vfs, const char* name, sqlite3_syscall_ptr call) {
  return RealVfs(vfs)->xSetSystemCall(RealVfs(vfs), name, call);
}
sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs* vfs, const char* name) {
  return RealVfs(vfs)->xGetSystemCall(RealVfs(vfs), name);
}
const char* NextSystemCall(sqlite3_vfs* vfs, const char* name) {
  return RealVfs(vfs)->xNextSystemCall(RealVfs(vfs), name);
}

absl::Status Register() {
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr) return absl::InternalError("SQLite has no default VFS to wrap");
  // The calls below exist from these versions of the VFS structure on; a
  // wrapped VFS with an older structure is not one this shim was written for.
  if (real->iVersion < 3) {
    return absl::InternalError(absl::StrCat("SQLite's default VFS '", real->zName, "' has version ",
                                            real->iVersion, "; the coalescing VFS needs 3"));
  }
  static sqlite3_vfs vfs;
  vfs = *real;
  // A WAL file needs the header and the real file; any other file only the
  // real one, opened at the start of the same block.
  vfs.szOsFile = static_cast<int>(kRealOffset) + real->szOsFile;
  vfs.pNext = nullptr;
  vfs.zName = kCoalescingVfsName;
  vfs.pAppData = real;
  vfs.xOpen = Open;
  vfs.xDelete = Delete;
  vfs.xAccess = Access;
  vfs.xFullPathname = FullPathname;
  vfs.xDlOpen = DlOpen;
  vfs.xDlError = DlError;
  vfs.xDlSym = DlSym;
  vfs.xDlClose = DlClose;
  vfs.xRandomness = Randomness;
  vfs.xSleep = Sleep;
  vfs.xCurrentTime = CurrentTime;
  vfs.xGetLastError = GetLastError;
  vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  vfs.xSetSystemCall = SetSystemCall;
  vfs.xGetSystemCall = GetSystemCall;
  vfs.xNextSystemCall = NextSystemCall;
  if (const int rc = sqlite3_vfs_register(&vfs, /*makeDflt=*/0); rc != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("cannot register SQLite VFS ", kCoalescingVfsName, ": ",
                                            sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterCoalescingVfs() {
  static std::once_flag once;
  static absl::Status* status = nullptr;  // never destroyed: callers may run at exit
  std::call_once(once, [] { status = new absl::Status(Register()); });
  return *status;
}

CoalescingVfsCounters GetCoalescingVfsCounters() {
  CoalescingVfsCounters counters;
  counters.writes = g_writes.load(std::memory_order_relaxed);
  counters.flushes = g_flushes.load(std::memory_order_relaxed);
  counters.flushed_bytes = g_flushed_bytes.load(std::memory_order_relaxed);
  counters.reads = g_reads.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace caselink::sqlite_internal
