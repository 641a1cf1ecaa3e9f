// Safetensors checkpoints: one file, or shards joined by model.safetensors.index.json.
//
// Files are memory-mapped; a tensor is a view into the map, in its stored dtype. Headers are
// validated at open (JSON, dtypes, shape x dtype size == byte range, ranges inside the data
// section and not overlapping, header length sane), so a bad file fails at load with the file
// and tensor named, never later.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/file.h"
#include "common/status.h"

namespace moe {

// A tensor in a checkpoint: points into a mapped file.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // path of the file it lives in, for error messages

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensor names in the order of the header.
  const std::vector<std::string>& names() const { return names_; }
  // NOT_FOUND (naming file and tensor) when absent.
  absl::StatusOr<TensorView> Get(const std::string& name) const;
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::vector<std::string> names_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A model directory's weights: model.safetensors, or the shards listed in
// model.safetensors.index.json (tensors of one layer may span shards).
class Checkpoint {
 public:
  // `dir` holds model.safetensors or model.safetensors.index.json.
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  // NOT_FOUND naming the checkpoint and tensor when absent.
  absl::StatusOr<TensorView> Get(const std::string& name) const;
  bool Has(const std::string& name) const;
  // Like Get, and checks the shape: INVALID_ARGUMENT naming tensor, expected and actual shape.
  absl::StatusOr<TensorView> GetWithShape(const std::string& name,
                                          const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }
  // The opened files (one, or one per shard).
  size_t num_files() const { return files_.size(); }

 private:
  Checkpoint() = default;
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> index_;  // tensor name -> its file
};

// One tensor to write: raw little-endian bytes.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes one safetensors file (header padded to 8 bytes, {"format": "pt"} metadata).
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

// "[2, 3]" for error messages.
std::string ShapeToString(const std::vector<int64_t>& shape);

// Name, dtype and shape of a tensor to stream into a file.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
};

// Writes a safetensors file without holding it in memory: the header (all specs, in order) is
// written at Create, then each tensor's bytes with Write, in the order of the specs. Close
// checks that every tensor was written. A writer destroyed without Close leaves a partial file.
class SafetensorsWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, const std::vector<TensorSpec>& specs);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends the next tensor's bytes; `name` and `nbytes` must match the next spec.
  absl::Status Write(const std::string& name, const void* data, size_t nbytes);
  absl::Status Close();
  // Bytes of tensor data (sum over specs).
  size_t data_bytes() const { return data_bytes_; }

 private:
  SafetensorsWriter() = default;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<TensorSpec> specs_;
  size_t next_ = 0;
  size_t data_bytes_ = 0;
};

}  // namespace moe
