// File-backed blob store: writes go to a temporary file that is hashed as it
// grows, fsynced, then renamed to its digest, so a crash never leaves a blob
// whose name does not match its bytes.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <regex>

#include "absl/strings/str_cat.h"
#include "adapters/blob/blob_store.h"
#include "security/digest.h"

namespace caselink {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

bool IsDigestHex(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class FileBlobWriter : public BlobWriter {
 public:
  FileBlobWriter(int fd, std::string tmp_path, fs::path root) : fd_(fd), tmp_path_(std::move(tmp_path)), root_(std::move(root)) {}
  ~FileBlobWriter() override {
    if (fd_ >= 0) close(fd_);
    if (!finished_) unlink(tmp_path_.c_str());
  }

  absl::Status Append(absl::string_view chunk) override {
    const char* p = chunk.data();
    size_t left = chunk.size();
    while (left > 0) {
      ssize_t n = write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("writing document");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    hasher_.Update(chunk);
    size_ += chunk.size();
    return absl::OkStatus();
  }

  uint64_t size() const override { return size_; }

  absl::StatusOr<std::string> Finish() override {
    if (fsync(fd_) != 0) return Errno("fsync of document");
    close(fd_);
    fd_ = -1;
    std::string hex = security::HexEncode(hasher_.Finish());
    fs::path dir = root_ / "sha256" / hex.substr(0, 2);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("creating ", dir.string(), ": ", ec.message()));
    fs::path final_path = dir / hex;
    if (rename(tmp_path_.c_str(), final_path.c_str()) != 0) return Errno("storing document");
    finished_ = true;
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    return hex;
  }

 private:
  int fd_;
  std::string tmp_path_;
  fs::path root_;
  security::Sha256Hasher hasher_;
  uint64_t size_ = 0;
  bool finished_ = false;
};

class FileBlobReader : public BlobReader {
 public:
  FileBlobReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FileBlobReader() override { close(fd_); }
  absl::StatusOr<std::string> Read(size_t max_bytes) override {
    std::string buf(max_bytes, '\0');
    ssize_t n;
    do {
      n = read(fd_, buf.data(), max_bytes);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Errno("reading document");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  uint64_t size() const override { return size_; }

 private:
  int fd_;
  uint64_t size_;
};

class FileBlobStore : public BlobStore {
 public:
  explicit FileBlobStore(fs::path root) : root_(std::move(root)) {}

  absl::StatusOr<std::unique_ptr<BlobWriter>> BeginWrite() override {
    std::string tmpl = (root_ / "tmp" / "upload-XXXXXX").string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return Errno("creating upload file");
    return std::make_unique<FileBlobWriter>(fd, tmpl, root_);
  }

  absl::StatusOr<uint64_t> Size(absl::string_view digest_hex) const override {
    if (!IsDigestHex(digest_hex)) return absl::InvalidArgumentError("document digest must be 64 lowercase hex characters");
    std::error_code ec;
    auto size = fs::file_size(PathOf(digest_hex), ec);
    if (ec) return absl::NotFoundError(absl::StrCat("no document with sha256 ", digest_hex));
    return static_cast<uint64_t>(size);
  }

  absl::Status AddIndex(security::DigestAlgorithm algorithm, absl::string_view digest_hex,
                        absl::string_view sha256_hex) override {
    if (algorithm == security::DigestAlgorithm::kSha256) return absl::OkStatus();
    if (!IsDigestHex(digest_hex) || !IsDigestHex(sha256_hex)) {
      return absl::InvalidArgumentError("document digests must be 64 lowercase hex characters");
    }
    if (auto size = Size(sha256_hex); !size.ok()) return size.status();
    const std::string hex(digest_hex);
    const fs::path dir = root_ / "sm3" / hex.substr(0, 2);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("creating ", dir.string(), ": ", ec.message()));
    // Written like a blob: a temporary file, fsync, rename, so an entry is whole or absent.
    std::string tmpl = (root_ / "tmp" / "index-XXXXXX").string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return Errno("creating document index entry");
    const std::string content(sha256_hex);
    const bool written = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && fsync(fd) == 0;
    close(fd);
    if (!written || rename(tmpl.c_str(), (dir / hex).c_str()) != 0) {
      unlink(tmpl.c_str());
      return Errno("storing document index entry");
    }
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Resolve(security::DigestAlgorithm algorithm, absl::string_view digest_hex) const override {
    if (!IsDigestHex(digest_hex)) return absl::InvalidArgumentError("document digest must be 64 lowercase hex characters");
    if (algorithm == security::DigestAlgorithm::kSha256) {
      if (auto size = Size(digest_hex); !size.ok()) return size.status();
      return std::string(digest_hex);
    }
    const std::string hex(digest_hex);
    const fs::path entry = root_ / "sm3" / hex.substr(0, 2) / hex;
    int fd = open(entry.c_str(), O_RDONLY);
    if (fd < 0) return absl::NotFoundError(absl::StrCat("no document with sm3 ", hex));
    std::string sha(64, '\0');
    const ssize_t n = read(fd, sha.data(), sha.size());
    close(fd);
    if (n != 64 || !IsDigestHex(sha)) return absl::DataLossError(absl::StrCat("the index entry of sm3 ", hex, " is damaged"));
    if (auto size = Size(sha); !size.ok()) return size.status();
    return sha;
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view digest_hex) const override {
    auto size = Size(digest_hex);
    if (!size.ok()) return size.status();
    int fd = open(PathOf(digest_hex).c_str(), O_RDONLY);
    if (fd < 0) return Errno("opening document");
    return std::make_unique<FileBlobReader>(fd, *size);
  }

 private:
  fs::path PathOf(absl::string_view hex) const {
    std::string h(hex);
    return root_ / "sha256" / h.substr(0, 2) / h;
  }
  fs::path root_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "tmp", ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating blob store at ", root, ": ", ec.message()));
  // Leftovers of uploads interrupted by a crash are not blobs; remove them.
  for (const auto& entry : fs::directory_iterator(fs::path(root) / "tmp", ec)) fs::remove(entry.path(), ec);
  return std::make_unique<FileBlobStore>(root);
}

}  // namespace caselink
