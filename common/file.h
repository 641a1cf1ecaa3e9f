// Whole-file reads and read-only memory maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace moe {

// Reads a whole file. NOT_FOUND names the path when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` (truncating).
absl::Status WriteFile(const std::string& path, std::string_view data);

bool FileExists(const std::string& path);

// A read-only memory map of a whole file. Pages are read on first touch, so a
// worker that maps a 60 GB checkpoint but uses one shard reads only that shard.
class MappedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

// Joins a directory and a file name with one '/'.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace moe
