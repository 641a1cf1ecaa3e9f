#include "coordinator/tokenizer/tokenizer.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "common/file.h"
#include "coordinator/tokenizer/added_tokens.h"
#include "coordinator/tokenizer/bpe.h"
#include "coordinator/tokenizer/byte_level.h"
#include "coordinator/tokenizer/pipeline.h"
#include "coordinator/tokenizer/unicode.h"

namespace moe {
namespace tokenizer_internal {

// Everything a loaded tokenizer holds. Built by LoadPipeline (pipeline.cc).
class TokenizerImpl {
 public:
  Pipeline pipeline;
  std::vector<AddedToken> added_tokens;
  std::unique_ptr<AddedTokenMatcher> raw_matcher;         // normalized=false tokens
  std::unique_ptr<AddedTokenMatcher> normalized_matcher;  // normalized=true tokens
  std::vector<std::string> id_bytes;                      // TokenBytes per id
  std::vector<int32_t> added_index;                       // id -> index in added_tokens, or -1
  std::vector<uint8_t> valid;                             // id has a token
  absl::flat_hash_map<std::string, int32_t> added_by_content;
  OrderedJson config = OrderedJson::object();
  std::optional<std::string> eos_token;
  std::optional<std::string> bos_token;

  // Encodes one stretch of text that holds no added token found so far.
  void EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const;
};

void TokenizerImpl::EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<std::string_view> pieces;
  pipeline.PreTokenize(text, &pieces);
  for (std::string_view piece : pieces) pipeline.model->Encode(piece, ids);
}

void TokenizerImpl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::string normalized;
  std::string_view view = text;
  if (pipeline.nfc) {
    NfcNormalize(text, &normalized);
    view = normalized;
  }
  if (normalized_matcher == nullptr || normalized_matcher->empty()) {
    EncodeNormalized(view, ids);
    return;
  }
  std::vector<Segment> segments;
  normalized_matcher->Split(view, &segments);
  for (const Segment& s : segments) {
    if (s.token_id >= 0) {
      ids->push_back(s.token_id);
    } else {
      EncodeNormalized(view.substr(s.start, s.end - s.start), ids);
    }
  }
}

namespace {

absl::StatusOr<std::optional<std::string>> ConfigToken(const OrderedJson& config, const char* key,
                                                       const std::string& source) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) {
      return std::optional<std::string>(content->get<std::string>());
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": \"", key, "\" must be null, a string or an object with a \"content\" string"));
}

absl::StatusOr<std::unique_ptr<TokenizerImpl>> Build(const std::string& tokenizer_json,
                                                     const std::string& tokenizer_source,
                                                     const std::string& config_json,
                                                     const std::string& config_source) {
  auto impl = std::make_unique<TokenizerImpl>();
  MOE_ASSIGN_OR_RETURN(Json root, ParseJson(tokenizer_json, tokenizer_source));
  MOE_RETURN_IF_ERROR(LoadPipeline(root, tokenizer_source, &impl->pipeline));
  MOE_ASSIGN_OR_RETURN(impl->added_tokens, LoadAddedTokens(root, tokenizer_source));

  // Id tables.
  const std::vector<std::string>& pieces = impl->pipeline.model->id_to_piece();
  int32_t num_ids = static_cast<int32_t>(pieces.size());
  for (const AddedToken& t : impl->added_tokens) num_ids = std::max(num_ids, t.id + 1);
  impl->id_bytes.resize(static_cast<size_t>(num_ids));
  impl->valid.assign(static_cast<size_t>(num_ids), 0);
  impl->added_index.assign(static_cast<size_t>(num_ids), -1);
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (pieces[id].empty()) continue;
    impl->valid[id] = 1;
    // Like HF's ByteLevel decoder: a piece with a character outside the table stays as is.
    if (!PieceToBytes(pieces[id], &impl->id_bytes[id])) impl->id_bytes[id] = pieces[id];
  }
  std::vector<std::string> raw_patterns, normalized_patterns;
  std::vector<const AddedToken*> raw_tokens, normalized_tokens;
  for (size_t i = 0; i < impl->added_tokens.size(); ++i) {
    const AddedToken& t = impl->added_tokens[i];
    size_t id = static_cast<size_t>(t.id);
    impl->valid[id] = 1;
    impl->added_index[id] = static_cast<int32_t>(i);
    impl->id_bytes[id] = t.content;
    impl->added_by_content.emplace(t.content, t.id);
    if (t.normalized) {
      std::string pattern = t.content;
      if (impl->pipeline.nfc) NfcNormalize(t.content, &pattern);
      normalized_patterns.push_back(pattern);
      normalized_tokens.push_back(&t);
    } else {
      raw_patterns.push_back(t.content);
      raw_tokens.push_back(&t);
    }
  }
  MOE_ASSIGN_OR_RETURN(impl->raw_matcher, AddedTokenMatcher::Create(raw_patterns, raw_tokens));
  MOE_ASSIGN_OR_RETURN(impl->normalized_matcher,
                       AddedTokenMatcher::Create(normalized_patterns, normalized_tokens));

  // tokenizer_config.json.
  if (!config_json.empty()) {
    MOE_ASSIGN_OR_RETURN(impl->config, ParseOrderedJson(config_json, config_source));
    if (!impl->config.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_source, ": top level must be a JSON object"));
    }
    MOE_ASSIGN_OR_RETURN(impl->eos_token, ConfigToken(impl->config, "eos_token", config_source));
    MOE_ASSIGN_OR_RETURN(impl->bos_token, ConfigToken(impl->config, "bos_token", config_source));
  }
  return impl;
}

std::string ConfigSourceFor(const std::string& tokenizer_source) {
  size_t slash = tokenizer_source.rfind('/');
  if (slash == std::string::npos) return "tokenizer_config.json";
  return JoinPath(tokenizer_source.substr(0, slash), "tokenizer_config.json");
}

}  // namespace
}  // namespace tokenizer_internal

using tokenizer_internal::TokenizerImpl;

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& dir) {
  const std::string tokenizer_path = JoinPath(dir, "tokenizer.json");
  const std::string config_path = JoinPath(dir, "tokenizer_config.json");
  if (!FileExists(tokenizer_path)) {
    return absl::NotFoundError(absl::StrCat(tokenizer_path, ": file not found"));
  }
  MOE_ASSIGN_OR_RETURN(std::string tokenizer_json, ReadFile(tokenizer_path));
  std::string config_json;
  if (FileExists(config_path)) {
    MOE_ASSIGN_OR_RETURN(config_json, ReadFile(config_path));
    if (config_json.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": file is empty"));
    }
  }
  MOE_ASSIGN_OR_RETURN(auto impl, tokenizer_internal::Build(tokenizer_json, tokenizer_path,
                                                            config_json, config_path));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(
    const std::string& tokenizer_json, const std::string& tokenizer_config_json,
    const std::string& source_name) {
  MOE_ASSIGN_OR_RETURN(auto impl,
                       tokenizer_internal::Build(tokenizer_json, source_name, tokenizer_config_json,
                                                 tokenizer_internal::ConfigSourceFor(source_name)));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  size_t bad = tokenizer_internal::FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    uint8_t byte = static_cast<uint8_t>(text[bad]);
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer input is not valid UTF-8: ill-formed sequence at byte offset ", bad,
                     " (byte 0x", std::string{kHex[byte >> 4], kHex[byte & 15]}, ")"));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (impl_->raw_matcher->empty()) {
    impl_->EncodeText(text, &ids);
    return ids;
  }
  std::vector<tokenizer_internal::Segment> segments;
  impl_->raw_matcher->Split(text, &segments);
  for (const auto& s : segments) {
    if (s.token_id >= 0) {
      ids.push_back(s.token_id);
    } else {
      impl_->EncodeText(text.substr(s.start, s.end - s.start), &ids);
    }
  }
  return ids;
}

absl::StatusOr<std::vector<std::vector<int32_t>>> Tokenizer::EncodeBatch(
    const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = Encode(texts[i]);
    if (!ids.ok()) {
      return absl::Status(ids.status().code(),
                          absl::StrCat("text ", i, ": ", ids.status().message()));
    }
    out.push_back(std::move(ids).value());
  }
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!IsValidId(id)) continue;
    if (skip_special_tokens && IsSpecial(id)) continue;
    bytes += impl_->id_bytes[static_cast<size_t>(id)];
  }
  std::string text;
  text.reserve(bytes.size());
  tokenizer_internal::AppendUtf8Lossy(bytes, &text);
  return text;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  if (!IsValidId(id)) return std::string();
  return impl_->id_bytes[static_cast<size_t>(id)];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  if (id < 0 || id >= num_ids()) return false;
  int32_t index = impl_->added_index[static_cast<size_t>(id)];
  return index >= 0 && impl_->added_tokens[static_cast<size_t>(index)].special;
}

bool Tokenizer::IsValidId(int32_t id) const {
  return id >= 0 && id < num_ids() && impl_->valid[static_cast<size_t>(id)] != 0;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token_content) const {
  auto it =
      impl_->added_by_content.find(absl::string_view(token_content.data(), token_content.size()));
  if (it != impl_->added_by_content.end()) return it->second;
  return impl_->pipeline.model->PieceToId(token_content);
}

std::string Tokenizer::IdToToken(int32_t id) const {
  if (!IsValidId(id)) return std::string();
  int32_t index = impl_->added_index[static_cast<size_t>(id)];
  if (index >= 0) return impl_->added_tokens[static_cast<size_t>(index)].content;
  return impl_->pipeline.model->id_to_piece()[static_cast<size_t>(id)];
}

int32_t Tokenizer::num_ids() const { return static_cast<int32_t>(impl_->id_bytes.size()); }

const OrderedJson& Tokenizer::config() const { return impl_->config; }

std::optional<std::string> Tokenizer::eos_token() const { return impl_->eos_token; }

std::optional<std::string> Tokenizer::bos_token() const { return impl_->bos_token; }

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::Push(int32_t id) {
  if (!tokenizer_.IsValidId(id)) return std::string();
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return std::string();
  pending_ += tokenizer_.TokenBytes(id);
  // Hold everything back while the bytes end inside a character (the prefix is incomplete).
  if (tokenizer_internal::IncompleteUtf8TailLength(pending_) > 0) return std::string();
  std::string text;
  tokenizer_internal::AppendUtf8Lossy(pending_, &text);
  pending_.clear();
  return text;
}

std::string StreamDecoder::Finish() {
  std::string text;
  tokenizer_internal::AppendUtf8Lossy(pending_, &text);
  pending_.clear();
  return text;
}

}  // namespace moe
