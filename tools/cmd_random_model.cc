// moe-tools random-model: writes a checkpoint with random bf16 weights in HF layout
// (config.json, generation_config.json, model.safetensors or shards + index), shaped like a
// preset. Weights come from common/random_weights.h, so they match the in-memory random mode.
// --shard-bytes N (default 2 GB) caps each file; above it the checkpoint is sharded + indexed.
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/json.h"
#include "common/model_config.h"
#include "common/model_presets.h"
#include "common/random_weights.h"
#include "common/safetensors.h"
#include "common/thread_pool.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace moe::tools {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultShardBytes = 2'000'000'000;  // at most 2 GB per shard file

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  return absl::StrFormat("%.1f %s", bytes, units[u]);
}

std::string HumanCount(double n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%.0f", n) : absl::StrFormat("%.2f%s", n, units[u]);
}

// Removes checkpoint files a previous run may have left in `dir`, so a stale index or shard
// cannot shadow the new checkpoint.
absl::Status RemoveOldCheckpoint(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool shard = name.rfind("model-", 0) == 0 && name.size() > 12 &&
                       name.substr(name.size() - 12) == ".safetensors";
    if (shard || name == "model.safetensors" || name == "model.safetensors.index.json") {
      fs::remove(entry.path(), ec);
      if (ec) {
        return absl::PermissionDeniedError(
            absl::StrCat(entry.path().string(), ": cannot remove: ", ec.message()));
      }
    }
  }
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot list: ", ec.message()));
  return absl::OkStatus();
}

absl::Status CopyTokenizer(const std::string& tokenizer_dir, const std::string& out_dir) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    const std::string src = JoinPath(tokenizer_dir, name);
    if (!FileExists(src)) {
      return absl::NotFoundError(absl::StrCat("--tokenizer: ", src, ": no such file"));
    }
    std::error_code ec;
    fs::copy_file(src, JoinPath(out_dir, name), fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat(src, ": cannot copy to ", out_dir, ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Run(int argc, char** argv) {
  MOE_ASSIGN_OR_RETURN(
      Flags flags, Flags::Parse(argc, argv, 0,
                                {"like", "layers", "seed", "tokenizer", "out", "shard-bytes"}, {}));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (!flags.Has("like")) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing --like NAME (one of ", absl::StrJoin(PresetNames(), ", "), ")"));
  }
  if (!flags.Has("out")) return absl::InvalidArgumentError("missing --out DIR");
  const std::string like = flags.GetString("like");
  const std::string out = flags.GetString("out");
  MOE_ASSIGN_OR_RETURN(int64_t layers, flags.GetInt("layers", 0));
  if (flags.Has("layers") && layers <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--layers: expected a positive integer, got ", layers));
  }
  MOE_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  MOE_ASSIGN_OR_RETURN(int64_t shard_bytes, flags.GetInt("shard-bytes", kDefaultShardBytes));
  if (shard_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard-bytes: expected a positive integer, got ", shard_bytes));
  }
  MOE_ASSIGN_OR_RETURN(ModelConfig config, PresetConfig(like, layers));

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(out, ": cannot create: ", ec.message()));
  MOE_RETURN_IF_ERROR(RemoveOldCheckpoint(out));

  MOE_RETURN_IF_ERROR(WriteFile(JoinPath(out, "config.json"), ModelConfigToJson(config)));
  Json gen = {{"bos_token_id", 151643}, {"eos_token_id", {151645, 151643}}};
  MOE_RETURN_IF_ERROR(WriteFile(JoinPath(out, "generation_config.json"), gen.dump(2) + "\n"));

  // Plan the shards: consecutive tensors, at most shard_bytes of data each (a larger tensor
  // gets a shard of its own).
  const std::vector<WeightSpec> weights = ModelWeightSpecs(config);
  std::vector<std::vector<size_t>> shards(1);  // indices into `weights`
  size_t shard_size = 0, total_bytes = 0;
  int64_t total_params = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const TensorSpec spec{weights[i].name, DType::kBF16, weights[i].shape};
    const size_t n = spec.nbytes();
    // Count the tensor's header entry too, so a whole shard file stays within the limit.
    const size_t cost = n + spec.name.size() + 96;
    if (!shards.back().empty() && shard_size + cost > static_cast<size_t>(shard_bytes)) {
      shards.emplace_back();
      shard_size = 0;
    }
    shards.back().push_back(i);
    shard_size += cost;
    total_bytes += n;
    total_params += spec.numel();
  }

  ThreadPool pool(0);
  std::vector<uint16_t> buf;
  Json weight_map = Json::object();
  std::vector<std::string> files;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shards.size() == 1 ? std::string("model.safetensors")
                                                : absl::StrFormat("model-%05d-of-%05d.safetensors",
                                                                  s + 1, shards.size());
    std::vector<TensorSpec> specs;
    for (size_t i : shards[s]) specs.push_back({weights[i].name, DType::kBF16, weights[i].shape});
    MOE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsWriter> writer,
                         SafetensorsWriter::Create(JoinPath(out, name), specs));
    for (size_t i : shards[s]) {
      const WeightSpec& w = weights[i];
      int64_t n = 1;
      for (int64_t d : w.shape) n *= d;
      buf.resize(static_cast<size_t>(n));
      const uint64_t tseed = TensorSeed(static_cast<uint64_t>(seed), w.name);
      if (w.is_norm) {
        FillRandomNormBf16(buf.data(), n, tseed);
      } else {
        FillRandomBf16(buf.data(), n, tseed, 0.02f, &pool);
      }
      MOE_RETURN_IF_ERROR(writer->Write(w.name, buf.data(), buf.size() * sizeof(uint16_t)));
      weight_map[w.name] = name;
    }
    MOE_RETURN_IF_ERROR(writer->Close());
    files.push_back(name);
  }
  if (shards.size() > 1) {
    Json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
    MOE_RETURN_IF_ERROR(
        WriteFile(JoinPath(out, "model.safetensors.index.json"), index.dump(2) + "\n"));
  }
  if (flags.Has("tokenizer")) MOE_RETURN_IF_ERROR(CopyTokenizer(flags.GetString("tokenizer"), out));

  std::printf(
      "random-model: %s, %lld layers, seed %lld: %s params (%lld), %s bf16 in %zu %s -> %s\n",
      like.c_str(), static_cast<long long>(config.num_hidden_layers), static_cast<long long>(seed),
      HumanCount(static_cast<double>(total_params)).c_str(), static_cast<long long>(total_params),
      HumanBytes(static_cast<double>(total_bytes)).c_str(), files.size(),
      files.size() == 1 ? "file" : "shards", out.c_str());
  return absl::OkStatus();
}

}  // namespace

int RandomModel(int argc, char** argv) {
  absl::Status status = Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "random-model: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace moe::tools
