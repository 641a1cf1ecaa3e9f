#include "coordinator/chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace moe::chat {
namespace {

const ValueList& EmptyList() {
  static const ValueList* empty = new ValueList();
  return *empty;
}

const ValueDict& EmptyDict() {
  static const ValueDict* empty = new ValueDict();
  return *empty;
}

// Code points that Python's str.isprintable() rejects (an approximation of the Unicode
// categories Cc, Cf, Zs, Zl, Zp, Co and Cs outside ASCII that matter in practice).
bool IsNonPrintable(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return true;
  if (cp < 0x80) return false;
  if (cp <= 0xa0 || cp == 0xad) return true;
  if (cp == 0x1680 || cp == 0x180e || cp == 0x061c) return true;
  if (cp >= 0x2000 && cp <= 0x200f) return true;
  if (cp >= 0x2028 && cp <= 0x202f) return true;
  if (cp >= 0x205f && cp <= 0x206f) return true;
  if (cp == 0x3000 || cp == 0xfeff) return true;
  if (cp >= 0xfff9 && cp <= 0xfffb) return true;
  if (cp >= 0xd800 && cp <= 0xf8ff) return true;  // surrogates and private use
  if (cp >= 0xf0000) return true;                 // supplementary private use
  return false;
}

void AppendHex(uint32_t value, int digits, std::string* out) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, value);
  out->append(buf);
}

std::string ReprString(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (IsNonPrintable(cp)) {
      if (cp < 0x100) {
        out += "\\x";
        AppendHex(cp, 2, &out);
      } else if (cp < 0x10000) {
        out += "\\u";
        AppendHex(cp, 4, &out);
      } else {
        out += "\\U";
        AppendHex(cp, 8, &out);
      }
    } else {
      AppendUtf8(cp, &out);
    }
  }
  out.push_back(quote);
  return out;
}

void JsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    switch (cp) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (cp < 0x20) {
          *out += "\\u";
          AppendHex(cp, 4, out);
        } else if (ensure_ascii && cp > 0x7e) {
          if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            *out += "\\u";
            AppendHex(0xd800 + (v >> 10), 4, out);
            *out += "\\u";
            AppendHex(0xdc00 + (v & 0x3ff), 4, out);
          } else {
            *out += "\\u";
            AppendHex(cp, 4, out);
          }
        } else {
          AppendUtf8(cp, out);
        }
    }
  }
  out->push_back('"');
}

// json.dumps of a dict key: strings as is; numbers, bools and None converted like Python.
absl::StatusOr<std::string> JsonKey(const Value& key) {
  switch (key.kind()) {
    case Kind::kString:
      return key.str();
    case Kind::kBool:
      return std::string(key.bool_value() ? "true" : "false");
    case Kind::kNone:
      return std::string("null");
    case Kind::kInt:
      return std::to_string(key.int_value());
    case Kind::kFloat:
      return FormatFloat(key.float_value());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("keys must be str, int, float, bool or None, not ", TypeName(key)));
  }
}

absl::Status WriteJson(const Value& v, const JsonOptions& options, int depth, std::string* out) {
  if (depth > 200) return absl::InvalidArgumentError("tojson: value nested too deeply");
  auto newline = [&](int level) {
    if (!options.indent_set) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) *out += options.indent;
  };
  switch (v.kind()) {
    case Kind::kNone:
      *out += "null";
      return absl::OkStatus();
    case Kind::kBool:
      *out += v.bool_value() ? "true" : "false";
      return absl::OkStatus();
    case Kind::kInt:
      *out += std::to_string(v.int_value());
      return absl::OkStatus();
    case Kind::kFloat: {
      double d = v.float_value();
      if (std::isnan(d)) {
        *out += "NaN";
      } else if (std::isinf(d)) {
        *out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        *out += FormatFloat(d);
      }
      return absl::OkStatus();
    }
    case Kind::kString:
      JsonString(v.str(), options.ensure_ascii, out);
      return absl::OkStatus();
    case Kind::kList:
    case Kind::kTuple: {
      const ValueList& items = v.list();
      if (items.empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) *out += options.item_separator;
        newline(depth + 1);
        MOE_RETURN_IF_ERROR(WriteJson(items[i], options, depth + 1, out));
      }
      newline(depth);
      out->push_back(']');
      return absl::OkStatus();
    }
    case Kind::kDict: {
      const ValueDict& dict = v.dict();
      if (dict.entries.empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [key, value] : dict.entries) {
        MOE_ASSIGN_OR_RETURN(std::string text, JsonKey(key));
        entries.emplace_back(std::move(text), &value);
      }
      if (options.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) *out += options.item_separator;
        newline(depth + 1);
        JsonString(entries[i].first, options.ensure_ascii, out);
        *out += options.key_separator;
        MOE_RETURN_IF_ERROR(WriteJson(*entries[i].second, options, depth + 1, out));
      }
      newline(depth);
      out->push_back('}');
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Object of type ", TypeName(v), " is not JSON serializable"));
  }
}

}  // namespace

// ---- ValueDict / CallArgs ----

const Value* ValueDict::Find(const Value& key) const {
  for (const auto& entry : entries) {
    if (Equals(entry.first, key)) return &entry.second;
  }
  return nullptr;
}

const Value* ValueDict::Find(std::string_view key) const {
  for (const auto& entry : entries) {
    if (entry.first.is_string() && entry.first.str() == key) return &entry.second;
  }
  return nullptr;
}

void ValueDict::Set(Value key, Value value) {
  for (auto& entry : entries) {
    if (Equals(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

const Value* CallArgs::Get(size_t index, std::string_view name) const {
  for (const auto& [key, value] : keyword) {
    if (key == name) return &value;
  }
  return index < positional.size() ? &positional[index] : nullptr;
}

// ---- Value ----

Value Value::Undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::move(s);
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::Dict(ValueDict dict) {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<ValueDict>(std::move(dict));
  return v;
}

Value Value::Namespace(ValueDict dict) {
  Value v = Dict(std::move(dict));
  v.kind_ = Kind::kNamespace;
  return v;
}

Value Value::Callable(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.s_ = std::move(name);
  v.fn_ = std::make_shared<const Function>(std::move(fn));
  return v;
}

Value Value::View(std::string name, ValueList items) {
  Value v = List(std::move(items));
  v.kind_ = Kind::kView;
  v.s_ = std::move(name);
  return v;
}

Value Value::Generator(std::string name, ValueList items) {
  Value v = View(std::move(name), std::move(items));
  v.kind_ = Kind::kGenerator;
  v.cursor_ = std::make_shared<size_t>(0);
  return v;
}

Value Value::FailingGenerator(std::string name, absl::Status error) {
  Value v = Generator(std::move(name), {});
  v.error_ = std::make_shared<const absl::Status>(std::move(error));
  return v;
}

absl::StatusOr<ValueList> Value::Consume() const {
  if (error_ != nullptr) return *error_;
  const ValueList& items = list();
  size_t start = cursor_ ? std::min(*cursor_, items.size()) : 0;
  if (cursor_) *cursor_ = items.size();
  return ValueList(items.begin() + static_cast<long>(start), items.end());
}

Value Value::FromJson(const OrderedJson& json) {
  if (json.is_null()) return None();
  if (json.is_boolean()) return Bool(json.get<bool>());
  if (json.is_number_unsigned()) {
    uint64_t u = json.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Int(static_cast<int64_t>(u));
    }
    return Float(static_cast<double>(u));
  }
  if (json.is_number_integer()) return Int(json.get<int64_t>());
  if (json.is_number_float()) return Float(json.get<double>());
  if (json.is_string()) return String(json.get<std::string>());
  if (json.is_array()) {
    ValueList items;
    items.reserve(json.size());
    for (const auto& item : json) items.push_back(FromJson(item));
    return List(std::move(items));
  }
  if (json.is_object()) {
    ValueDict dict;
    dict.entries.reserve(json.size());
    for (const auto& [key, value] : json.items()) {
      dict.entries.emplace_back(String(key), FromJson(value));
    }
    return Dict(std::move(dict));
  }
  return None();  // binary / discarded: not produced by the JSON parser
}

const ValueList& Value::list() const { return list_ ? *list_ : EmptyList(); }

const ValueDict& Value::dict() const { return dict_ ? *dict_ : EmptyDict(); }

bool Value::SameObject(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kView:
    case Kind::kGenerator:
      return list_ == other.list_;
    case Kind::kDict:
    case Kind::kNamespace:
      return dict_ == other.dict_;
    case Kind::kFunction:
      return fn_ == other.fn_;
    default:
      return Equals(*this, other);
  }
}

// ---- Python semantics ----

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.bool_value();
    case Kind::kInt:
      return v.int_value() != 0;
    case Kind::kFloat:
      return v.float_value() != 0.0;
    case Kind::kString:
      return !v.str().empty();
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kView:
      return !v.list().empty();
    case Kind::kDict:
      return !v.dict().entries.empty();
    case Kind::kNamespace:
    case Kind::kFunction:
    case Kind::kGenerator:
      return true;
  }
  return false;
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, result.ptr);  // e.g. "-1.2345e+02" (shortest round trip)
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = sign;
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      size_t int_len = static_cast<size_t>(exponent) + 1;
      std::string int_part = digits.substr(0, std::min(int_len, digits.size()));
      while (int_part.size() < int_len) int_part.push_back('0');
      std::string frac = digits.size() > int_len ? digits.substr(int_len) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exp_buf;
  return out;
}

std::string Str(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return v.str();
    default:
      return Repr(v);
  }
}

std::string Repr(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return v.bool_value() ? "True" : "False";
    case Kind::kInt:
      return std::to_string(v.int_value());
    case Kind::kFloat:
      return FormatFloat(v.float_value());
    case Kind::kString:
      return ReprString(v.str());
    case Kind::kList:
    case Kind::kTuple: {
      bool tuple = v.kind() == Kind::kTuple;
      std::string out = tuple ? "(" : "[";
      const ValueList& items = v.list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        out += Repr(items[i]);
      }
      if (tuple && items.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      return out;
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      std::string out = v.kind() == Kind::kNamespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, value] : v.dict().entries) {
        if (!first) out += ", ";
        first = false;
        out += Repr(key) + ": " + Repr(value);
      }
      out += v.kind() == Kind::kNamespace ? "}>" : "}";
      return out;
    }
    case Kind::kFunction:
      return "<function " + v.str() + ">";
    case Kind::kView: {
      std::string out = v.str() + "([";
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i > 0) out += ", ";
        out += Repr(v.list()[i]);
      }
      return out + "])";
    }
    case Kind::kGenerator:
      return "<" + v.str() + " object>";
  }
  return "";
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kFunction:
      return "function";
    case Kind::kView:
    case Kind::kGenerator:
      return v.str();
  }
  return "object";
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.int_value() == b.int_value();
    return a.float_value() == b.float_value();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      const ValueList& x = a.list();
      const ValueList& y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const ValueDict& x = a.dict();
      const ValueDict& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.Find(key);
        if (other == nullptr || !Equals(value, *other)) return false;
      }
      return true;
    }
    default:
      return a.SameObject(b);
  }
}

absl::StatusOr<int> Compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      return a.int_value() < b.int_value() ? -1 : (a.int_value() > b.int_value() ? 1 : 0);
    }
    double x = a.float_value();
    double y = b.float_value();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && a.is_list_like()) {
    const ValueList& x = a.list();
    const ValueList& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return absl::InvalidArgumentError(absl::StrCat("'<' not supported between instances of '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

absl::StatusOr<ValueList> Iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return ValueList();
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kView:
      return v.list();
    case Kind::kGenerator:
      return v.Consume();  // a deferred error surfaces here
    case Kind::kDict: {
      ValueList keys;
      for (const auto& entry : v.dict().entries) keys.push_back(entry.first);
      return keys;
    }
    case Kind::kString: {
      ValueList chars;
      std::vector<size_t> offsets = CodePointOffsets(v.str());
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.push_back(Value::String(v.str().substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return chars;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("'", TypeName(v), "' object is not iterable"));
  }
}

absl::StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return static_cast<int64_t>(CodePointOffsets(v.str()).size() - 1);
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kView:
      return static_cast<int64_t>(v.list().size());
    case Kind::kDict:
      return static_cast<int64_t>(v.dict().entries.size());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("object of type '", TypeName(v), "' has no len()"));
  }
}

absl::StatusOr<std::string> ToJson(const Value& v, const JsonOptions& options) {
  std::string out;
  MOE_RETURN_IF_ERROR(WriteJson(v, options, 0, &out));
  return out;
}

// ---- UTF-8 ----

uint32_t DecodeUtf8(std::string_view s, size_t* pos) {
  size_t i = *pos;
  unsigned char c = static_cast<unsigned char>(s[i]);
  *pos = i + 1;
  int extra = 0;
  uint32_t cp = 0;
  if ((c & 0xe0) == 0xc0) {
    extra = 1;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    extra = 2;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    extra = 3;
    cp = c & 0x07;
  } else {
    return c;  // ASCII, or an invalid lead byte standing for itself
  }
  if (i + extra >= s.size()) return c;
  for (int k = 1; k <= extra; ++k) {
    unsigned char next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xc0) != 0x80) return c;
    cp = (cp << 6) | (next & 0x3f);
  }
  *pos = i + 1 + extra;
  return cp;
}

std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  size_t pos = 0;
  while (pos < s.size()) {
    offsets.push_back(pos);
    DecodeUtf8(s, &pos);
  }
  offsets.push_back(s.size());
  return offsets;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

bool IsPySpace(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f)) return true;
  if (cp < 0x80) return false;
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

}  // namespace moe::chat
