#include "coordinator/tokenizer/pipeline.h"

#include <set>

namespace moe::tokenizer_internal {

const char kGpt2SplitPattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

absl::Status Invalid(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// The "type" string of a section object; `where` is e.g. "pre_tokenizer".
absl::Status TypeOf(const Json& section, const std::string& where, const std::string& source,
                    std::string* type) {
  if (!section.is_object()) return Invalid(source, where + " must be an object or null");
  auto it = section.find("type");
  if (it == section.end() || !it->is_string()) {
    return Invalid(source, where + " has no \"type\" string");
  }
  *type = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status NotSupported(const std::string& source, const std::string& where,
                          const std::string& type) {
  return Invalid(source, absl::StrCat(where, " type '", type, "' is not supported"));
}

// A boolean field with a default; a non-boolean value is an error.
absl::StatusOr<bool> BoolField(const Json& obj, const char* key, bool def, const std::string& where,
                               const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean())
    return Invalid(source, absl::StrCat(where, ".", key, " must be a boolean"));
  return it->get<bool>();
}

absl::Status LoadNormalizer(const Json& n, const std::string& where, const std::string& source,
                            Pipeline* p) {
  if (n.is_null()) return absl::OkStatus();
  std::string type;
  MOE_RETURN_IF_ERROR(TypeOf(n, where, source, &type));
  if (type == "NFC") {
    p->nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence") {
    auto list = n.find("normalizers");
    if (list == n.end() || !list->is_array()) {
      return Invalid(source, where + ".normalizers must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      MOE_RETURN_IF_ERROR(
          LoadNormalizer((*list)[i], absl::StrCat(where, ".normalizers[", i, "]"), source, p));
    }
    return absl::OkStatus();
  }
  return NotSupported(source, where, type);
}

// Adds one pre-tokenizer step; `byte_level_seen` is set by ByteLevel, which must come last.
absl::Status LoadPreTokenizer(const Json& pt, const std::string& where, const std::string& source,
                              Pipeline* p, bool* byte_level_seen) {
  std::string type;
  MOE_RETURN_IF_ERROR(TypeOf(pt, where, source, &type));
  if (type == "Sequence") {
    auto list = pt.find("pretokenizers");
    if (list == pt.end() || !list->is_array()) {
      return Invalid(source, where + ".pretokenizers must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      MOE_RETURN_IF_ERROR(LoadPreTokenizer(
          (*list)[i], absl::StrCat(where, ".pretokenizers[", i, "]"), source, p, byte_level_seen));
    }
    return absl::OkStatus();
  }
  if (*byte_level_seen) {
    return Invalid(source, where + ": a ByteLevel pre-tokenizer must be the last step");
  }
  if (type == "Split") {
    auto behavior = pt.find("behavior");
    std::string b = behavior != pt.end() && behavior->is_string() ? behavior->get<std::string>()
                                                                  : std::string("(missing)");
    if (b != "Isolated") {
      return Invalid(source, absl::StrCat(where, " Split behavior '", b,
                                          "' is not supported (only Isolated)"));
    }
    MOE_ASSIGN_OR_RETURN(bool invert, BoolField(pt, "invert", false, where, source));
    if (invert) return Invalid(source, where + " Split invert=true is not supported");
    auto pattern = pt.find("pattern");
    if (pattern == pt.end() || !pattern->is_object()) {
      return Invalid(source, where + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    auto regex = pattern->find("Regex");
    auto literal = pattern->find("String");
    std::unique_ptr<Regex> compiled;
    if (regex != pattern->end() && regex->is_string()) {
      MOE_ASSIGN_OR_RETURN(compiled,
                           Regex::Compile(regex->get<std::string>(),
                                          absl::StrCat(source, ": ", where, " Split regex")));
    } else if (literal != pattern->end() && literal->is_string() &&
               !literal->get<std::string>().empty()) {
      MOE_ASSIGN_OR_RETURN(
          compiled, Regex::CompileLiteral(literal->get<std::string>(),
                                          absl::StrCat(source, ": ", where, " Split string")));
    } else {
      return Invalid(source, where + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    p->splitters.push_back(std::move(compiled));
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    MOE_ASSIGN_OR_RETURN(bool add_prefix_space,
                         BoolField(pt, "add_prefix_space", false, where, source));
    if (add_prefix_space) {
      return Invalid(source, where + " ByteLevel add_prefix_space=true is not supported");
    }
    MOE_ASSIGN_OR_RETURN(bool use_regex, BoolField(pt, "use_regex", true, where, source));
    if (use_regex) {
      MOE_ASSIGN_OR_RETURN(
          auto compiled,
          Regex::Compile(kGpt2SplitPattern, absl::StrCat(source, ": ", where, " ByteLevel regex")));
      p->splitters.push_back(std::move(compiled));
    }
    *byte_level_seen = true;
    return absl::OkStatus();
  }
  return NotSupported(source, where, type);
}

// Post-processor and decoder: ByteLevel only (the post-processor may also be absent).
absl::Status CheckByteLevelSection(const Json& root, const char* key, bool allow_null,
                                   const std::string& source) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) {
    if (allow_null) return absl::OkStatus();
    return Invalid(source,
                   absl::StrCat(key, " is missing; byte-level BPE needs a ByteLevel ", key));
  }
  std::string type;
  MOE_RETURN_IF_ERROR(TypeOf(*it, key, source, &type));
  if (type != "ByteLevel") return NotSupported(source, key, type);
  return absl::OkStatus();
}

absl::Status LoadPipelineImpl(const Json& root, const std::string& source, Pipeline* p) {
  if (!root.is_object()) return Invalid(source, "top level must be a JSON object");

  auto normalizer = root.find("normalizer");
  if (normalizer != root.end()) {
    MOE_RETURN_IF_ERROR(LoadNormalizer(*normalizer, "normalizer", source, p));
  }

  auto pre = root.find("pre_tokenizer");
  if (pre == root.end() || pre->is_null()) {
    return Invalid(source, "pre_tokenizer is missing; byte-level BPE needs a ByteLevel step");
  }
  bool byte_level_seen = false;
  MOE_RETURN_IF_ERROR(LoadPreTokenizer(*pre, "pre_tokenizer", source, p, &byte_level_seen));
  if (!byte_level_seen) {
    return Invalid(source,
                   "pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
  }

  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) {
    return Invalid(source, "\"model\" is missing or not an object");
  }
  auto model_type = model->find("type");
  if (model_type != model->end()) {
    if (!model_type->is_string()) return Invalid(source, "model.type must be a string");
    if (model_type->get<std::string>() != "BPE") {
      return NotSupported(source, "model", model_type->get<std::string>());
    }
  }
  MOE_ASSIGN_OR_RETURN(p->model, BpeModel::FromJson(*model, source));

  MOE_RETURN_IF_ERROR(CheckByteLevelSection(root, "post_processor", true, source));
  MOE_RETURN_IF_ERROR(CheckByteLevelSection(root, "decoder", false, source));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AddedToken>> LoadAddedTokensImpl(const Json& root,
                                                            const std::string& source) {
  std::vector<AddedToken> tokens;
  auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return tokens;
  if (!list->is_array()) return Invalid(source, "added_tokens must be an array");
  std::set<int32_t> ids;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& e = (*list)[i];
    std::string where = absl::StrCat("added_tokens[", i, "]");
    if (!e.is_object()) return Invalid(source, where + " must be an object");
    auto id = e.find("id");
    auto content = e.find("content");
    if (id == e.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() >= (1 << 24)) {
      return Invalid(source, where + ".id must be an integer in [0, 16777216)");
    }
    if (content == e.end() || !content->is_string() || content->get<std::string>().empty()) {
      return Invalid(source, where + ".content must be a non-empty string");
    }
    AddedToken t;
    t.id = static_cast<int32_t>(id->get<int64_t>());
    t.content = content->get<std::string>();
    if (!ids.insert(t.id).second) {
      return Invalid(source, absl::StrCat(where, ": id ", t.id, " is used twice"));
    }
    MOE_ASSIGN_OR_RETURN(t.special, BoolField(e, "special", false, where, source));
    MOE_ASSIGN_OR_RETURN(t.single_word, BoolField(e, "single_word", false, where, source));
    MOE_ASSIGN_OR_RETURN(t.lstrip, BoolField(e, "lstrip", false, where, source));
    MOE_ASSIGN_OR_RETURN(t.rstrip, BoolField(e, "rstrip", false, where, source));
    MOE_ASSIGN_OR_RETURN(t.normalized, BoolField(e, "normalized", !t.special, where, source));
    tokens.push_back(std::move(t));
  }
  return tokens;
}

}  // namespace

void Pipeline::PreTokenize(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  if (splitters.empty()) {
    pieces->push_back(text);
    return;
  }
  size_t first = pieces->size();
  splitters[0]->SplitIsolated(text, pieces);
  for (size_t k = 1; k < splitters.size(); ++k) {
    std::vector<std::string_view> current(pieces->begin() + static_cast<ptrdiff_t>(first),
                                          pieces->end());
    pieces->resize(first);
    for (std::string_view piece : current) splitters[k]->SplitIsolated(piece, pieces);
  }
}

// nlohmann throws on some type mismatches we do not check field by field; turn any such
// exception into a Status naming the file.
absl::Status LoadPipeline(const Json& root, const std::string& source, Pipeline* pipeline) {
  try {
    return LoadPipelineImpl(root, source, pipeline);
  } catch (const std::exception& e) {
    return Invalid(source, absl::StrCat("malformed tokenizer definition: ", e.what()));
  }
}

absl::StatusOr<std::vector<AddedToken>> LoadAddedTokens(const Json& root,
                                                        const std::string& source) {
  try {
    return LoadAddedTokensImpl(root, source);
  } catch (const std::exception& e) {
    return Invalid(source, absl::StrCat("malformed added_tokens: ", e.what()));
  }
}

}  // namespace moe::tokenizer_internal
