#include "common/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "common/json.h"

namespace moe {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // 100 MB
constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";

// numel of `shape`, or an error when it overflows int64.
absl::StatusOr<int64_t> CheckedNumel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError("negative dimension");
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError("element count overflows 64 bits");
    }
    n *= d;
  }
  return n;
}

std::string JsonTypeName(const OrderedJson& j) { return std::string(j.type_name()); }

// Parses one tensor entry of a header. `data_size` is the size of the data section.
absl::StatusOr<TensorView> ParseTensorEntry(const std::string& path, const std::string& name,
                                            const OrderedJson& entry, uint64_t data_size,
                                            uint64_t* begin_out, uint64_t* end_out) {
  auto err = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ", parts...));
  };
  if (!entry.is_object()) return err("entry is ", JsonTypeName(entry), ", expected an object");

  TensorView view;
  view.name = name;
  view.file = path;

  auto dt = entry.find("dtype");
  if (dt == entry.end()) return err("missing 'dtype'");
  if (!dt->is_string()) return err("'dtype' is ", JsonTypeName(*dt), ", expected a string");
  const std::string dtype_name = dt->get<std::string>();
  if (!ParseDType(dtype_name, &view.dtype)) {
    return err("unsupported dtype '", dtype_name,
               "' (expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
  }

  auto sh = entry.find("shape");
  if (sh == entry.end()) return err("missing 'shape'");
  if (!sh->is_array()) return err("'shape' is ", JsonTypeName(*sh), ", expected an array");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return err("'shape' ", sh->dump(), " must hold non-negative integers");
    }
    view.shape.push_back(d.get<int64_t>());
  }

  auto off = entry.find("data_offsets");
  if (off == entry.end()) return err("missing 'data_offsets'");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return err("'data_offsets' ", off->dump(), " must be [begin, end] of non-negative integers");
  }
  const uint64_t begin = (*off)[0].get<uint64_t>();
  const uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end) return err("data_offsets [", begin, ", ", end, "] have begin > end");
  if (end > data_size) {
    return err("data_offsets [", begin, ", ", end, "] reach beyond the end of the data section (",
               data_size, " bytes)");
  }

  absl::StatusOr<int64_t> numel = CheckedNumel(view.shape);
  if (!numel.ok()) return err("shape ", ShapeToString(view.shape), ": ", numel.status().message());
  const uint64_t elem = static_cast<uint64_t>(DTypeSize(view.dtype));
  const uint64_t n = static_cast<uint64_t>(*numel);
  if (n > std::numeric_limits<uint64_t>::max() / elem || n * elem != end - begin) {
    return err("data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes but shape ",
               ShapeToString(view.shape), " of ", dtype_name, " needs ",
               n > std::numeric_limits<uint64_t>::max() / elem ? std::string("more than 2^64")
                                                               : absl::StrCat(n * elem));
  }
  view.nbytes = static_cast<size_t>(end - begin);
  *begin_out = begin;
  *end_out = end;
  return view;
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  const uint64_t file_size = mapped->size();
  if (file_size < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file is ", file_size,
                     " bytes, too short for a safetensors header (needs at least 8)"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | mapped->data()[i];
  if (header_len > file_size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " exceeds the file size ", file_size,
                                                   " minus 8 (file truncated or not safetensors)"));
  }
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " exceeds the limit of ", kMaxHeaderBytes));
  }
  if (header_len == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length is 0"));
  }
  const uint64_t data_size = file_size - 8 - header_len;
  const uint8_t* data_start = mapped->data() + 8 + header_len;

  std::string header_text(reinterpret_cast<const char*>(mapped->data() + 8), header_len);
  absl::StatusOr<OrderedJson> header =
      ParseOrderedJson(header_text, absl::StrCat(path, ": header"));
  if (!header.ok()) return header.status();
  if (!header->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is a JSON ", header->type_name(), ", expected an object"));
  }

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;

  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  ranges.reserve(header->size());
  for (auto it = header->begin(); it != header->end(); ++it) {
    const std::string& key = it.key();
    if (key == "__metadata__") {
      if (!it->is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": '__metadata__' is ", it->type_name(), ", expected an object of strings"));
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": '__metadata__' field '", m.key(),
                                                         "' is ", m->type_name(),
                                                         ", expected a string"));
        }
        file->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    uint64_t begin = 0, end = 0;
    MOE_ASSIGN_OR_RETURN(TensorView view,
                         ParseTensorEntry(path, key, *it, data_size, &begin, &end));
    view.data = data_start + begin;
    auto [pos, inserted] = file->tensors_.emplace(key, std::move(view));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", key, "' appears twice in the header"));
    }
    file->names_.push_back(key);
    if (end > begin) ranges.push_back({begin, end, &pos->first});
  }

  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", *ranges[i].name, "' data_offsets [", ranges[i].begin,
                       ", ", ranges[i].end, "] overlap tensor '", *ranges[i - 1].name, "' [",
                       ranges[i - 1].begin, ", ", ranges[i - 1].end, "]"));
    }
  }
  file->file_ = std::move(mapped);
  return file;
}

absl::StatusOr<TensorView> SafetensorsFile::Get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor '", name, "'"));
  }
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->dir_ = dir;
  const std::string index_path = JoinPath(dir, kIndexName);
  const std::string single_path = JoinPath(dir, kSingleName);

  if (FileExists(index_path)) {
    MOE_ASSIGN_OR_RETURN(std::string text, ReadFile(index_path));
    MOE_ASSIGN_OR_RETURN(Json index, ParseJson(text, index_path));
    if (!index.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": is a JSON ", index.type_name(), ", expected an object"));
    }
    auto wm = index.find("weight_map");
    if (wm == index.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": missing field 'weight_map' (object)"));
    }
    if (!wm->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": 'weight_map' is ", wm->type_name(), ", expected an object"));
    }
    if (wm->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": 'weight_map' is empty"));
    }
    std::map<std::string, const SafetensorsFile*> shards;  // shard file name -> opened file
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      const std::string& tensor = it.key();
      if (!it->is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map entry for '",
                                                       tensor, "' is ", it->type_name(),
                                                       ", expected a file name"));
      }
      const std::string shard = it->get<std::string>();
      if (shard.empty() || shard[0] == '/' || shard.find("..") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor '", tensor,
                                                       "' maps to invalid shard name '", shard,
                                                       "' (expected a file in ", dir, ")"));
      }
      auto found = shards.find(shard);
      if (found == shards.end()) {
        const std::string shard_path = JoinPath(dir, shard);
        if (!FileExists(shard_path)) {
          return absl::NotFoundError(absl::StrCat(index_path, ": tensor '", tensor,
                                                  "' maps to shard '", shard,
                                                  "', which does not exist (", shard_path, ")"));
        }
        MOE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                             SafetensorsFile::Open(shard_path));
        found = shards.emplace(shard, file.get()).first;
        ckpt->files_.push_back(std::move(file));
      }
      if (!found->second->Has(tensor)) {
        return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor '", tensor,
                                                       "' maps to shard '", shard,
                                                       "', which does not contain it"));
      }
      ckpt->index_[tensor] = found->second;
    }
    return ckpt;
  }

  if (FileExists(single_path)) {
    MOE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(single_path));
    for (const std::string& name : file->names()) ckpt->index_[name] = file.get();
    ckpt->files_.push_back(std::move(file));
    return ckpt;
  }
  return absl::NotFoundError(
      absl::StrCat(dir, ": no checkpoint: neither ", kIndexName, " nor ", kSingleName, " exists"));
}

absl::StatusOr<TensorView> Checkpoint::Get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": checkpoint has no tensor '", name, "'"));
  }
  return it->second->Get(name);
}

bool Checkpoint::Has(const std::string& name) const { return index_.count(name) > 0; }

absl::StatusOr<TensorView> Checkpoint::GetWithShape(const std::string& name,
                                                    const std::vector<int64_t>& shape) const {
  MOE_ASSIGN_OR_RETURN(TensorView view, Get(name));
  if (view.shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(view.file, ": tensor '", name, "' has shape ",
                                                   ShapeToString(view.shape), ", expected ",
                                                   ShapeToString(shape)));
  }
  return view;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, file] : index_) out.push_back(name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

absl::StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, const std::vector<TensorSpec>& specs) {
  OrderedJson header = OrderedJson::object();
  header["__metadata__"] = OrderedJson{{"format", "pt"}};
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorSpec& spec : specs) {
    if (spec.name == "__metadata__" || !seen.insert(spec.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor name '", spec.name, "' is reserved or repeated"));
    }
    for (int64_t d : spec.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": tensor '", spec.name, "' has negative shape ", ShapeToString(spec.shape)));
      }
    }
    const uint64_t n = spec.nbytes();
    header[spec.name] = OrderedJson{{"dtype", std::string(DTypeName(spec.dtype))},
                                    {"shape", spec.shape},
                                    {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const OrderedJson::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot encode header: ", e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(text.size() >> (8 * i));

  std::unique_ptr<SafetensorsWriter> w(new SafetensorsWriter());
  w->path_ = path;
  w->specs_ = specs;
  w->data_bytes_ = offset;
  w->file_ = std::fopen(path.c_str(), "wb");
  if (w->file_ == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  if (std::fwrite(len, 1, 8, w->file_) != 8 ||
      std::fwrite(text.data(), 1, text.size(), w->file_) != text.size()) {
    return absl::DataLossError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
  }
  return w;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status SafetensorsWriter::Write(const std::string& name, const void* data, size_t nbytes) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": write after close"));
  }
  if (next_ >= specs_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": tensor '", name, "' written but all tensors are already written"));
  }
  const TensorSpec& spec = specs_[next_];
  if (spec.name != name) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": tensor '", name, "' written out of order (expected '", spec.name, "')"));
  }
  if (spec.nbytes() != nbytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": tensor '", name, "': got ", nbytes, " bytes, shape ", ShapeToString(spec.shape),
        " of ", DTypeName(spec.dtype), " needs ", spec.nbytes()));
  }
  if (nbytes > 0 && std::fwrite(data, 1, nbytes, file_) != nbytes) {
    return absl::DataLossError(
        absl::StrCat(path_, ": write of tensor '", name, "' failed: ", std::strerror(errno)));
  }
  ++next_;
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  std::FILE* f = file_;
  file_ = nullptr;
  const bool flush_failed = std::fclose(f) != 0;
  if (next_ != specs_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": closed after ", next_, " of ",
                                                      specs_.size(), " tensors were written"));
  }
  if (flush_failed) {
    return absl::DataLossError(absl::StrCat(path_, ": close failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsWriter> writer,
                       SafetensorsWriter::Create(path, specs));
  for (const TensorToWrite& t : tensors) {
    MOE_RETURN_IF_ERROR(writer->Write(t.name, t.bytes.data(), t.bytes.size()));
  }
  return writer->Close();
}

}  // namespace moe
