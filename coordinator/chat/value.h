// Values of the chat-template interpreter: a small model of the Python objects that Jinja2
// works with (Undefined, None, bool, int, float, str, list, tuple, dict, namespace, callables),
// with Python's truthiness, equality, ordering, str() and repr(), and json.dumps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace moe::chat {

class Value;
using ValueList = std::vector<Value>;

// A Python dict: insertion-ordered; keys compare with Python equality (1 == 1.0 == True).
struct ValueDict {
  std::vector<std::pair<Value, Value>> entries;

  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  // Replaces the value of an existing key or appends the pair.
  void Set(Value key, Value value);
};

// Arguments of a call: positional, then keyword in call order.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The keyword argument `name`, or else positional argument `index`; nullptr when neither.
  const Value* Get(size_t index, std::string_view name) const;
};

using Function = std::function<absl::StatusOr<Value>(const CallArgs&)>;

enum class Kind {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kNamespace,
  kFunction,
  kView,       // dict_items / dict_keys / dict_values: iterable with len, not indexable
  kGenerator,  // a one-shot iterator (what map/select/... return): always true, no len
};

class Value {
 public:
  Value() = default;  // Undefined.

  // `hint` is the message used when an operation on the undefined value fails,
  // e.g. "'foo' is undefined".
  static Value Undefined(std::string hint = "");
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value List(ValueList items);
  static Value Tuple(ValueList items);
  static Value Dict(ValueDict dict);
  // A mutable attribute bag shared by all copies (Jinja's namespace()).
  static Value Namespace(ValueDict dict);
  static Value Callable(std::string name, Function fn);
  // `name` is the Python type shown by repr(), e.g. "dict_items" or "generator".
  static Value View(std::string name, ValueList items);
  static Value Generator(std::string name, ValueList items);
  // A generator whose first use fails with `error` (Python generators fail lazily).
  static Value FailingGenerator(std::string name, absl::Status error);
  // JSON null/bool/number/string/array/object -> None/bool/int/float/str/list/dict.
  static Value FromJson(const OrderedJson& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list_like() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  // bool, int or float (Python's numbers.Number).
  bool is_number() const {
    return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat;
  }
  // bool or int (Python's int, of which bool is a subclass).
  bool is_integral() const { return kind_ == Kind::kBool || kind_ == Kind::kInt; }

  bool bool_value() const { return b_; }
  // The integer value of an int or bool.
  int64_t int_value() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  // The value of any number as a double.
  double float_value() const { return kind_ == Kind::kFloat ? f_ : double(int_value()); }
  // String contents, the undefined hint or the function name.
  const std::string& str() const { return s_; }
  // Items of a list, tuple, view or generator (all of them, consumed or not).
  const ValueList& list() const;
  // Generators: the items not consumed yet, which are then marked consumed, or the deferred
  // error of a failing generator.
  absl::StatusOr<ValueList> Consume() const;
  // The entries of a dict or namespace.
  const ValueDict& dict() const;
  ValueDict& mutable_namespace() const { return *dict_; }
  const Function& function() const { return *fn_; }
  bool SameObject(const Value& other) const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<const ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<const Function> fn_;
  std::shared_ptr<size_t> cursor_;             // kGenerator: items already consumed
  std::shared_ptr<const absl::Status> error_;  // kGenerator: deferred error
};

// Python's bool(v); Undefined is false.
bool Truthy(const Value& v);
// Python's str(v); Undefined is "".
std::string Str(const Value& v);
// Python's repr(v).
std::string Repr(const Value& v);
// Python's float repr: shortest round-trip digits, "1.0", "1e+16", "1.5e-05", "nan", "inf".
std::string FormatFloat(double d);
// Python's type name, for messages: "str", "int", "dict", "NoneType", "Undefined", ...
std::string TypeName(const Value& v);

// Python's a == b (Undefined equals only Undefined).
bool Equals(const Value& a, const Value& b);
// Python's ordering: negative, zero or positive; INVALID_ARGUMENT when unorderable.
absl::StatusOr<int> Compare(const Value& a, const Value& b);
// list(v): items of a list/tuple/view, keys of a dict, characters of a str, the rest of a
// generator (consuming it); Undefined is empty.
absl::StatusOr<ValueList> Iterate(const Value& v);
// len(v); Undefined is 0.
absl::StatusOr<int64_t> Length(const Value& v);

// json.dumps options (the keyword arguments of transformers' tojson filter).
struct JsonOptions {
  bool ensure_ascii = false;
  bool indent_set = false;  // indent=None keeps everything on one line
  std::string indent;       // the indent unit when indent_set
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// json.dumps(v, ...); INVALID_ARGUMENT for values JSON cannot hold (Undefined, functions).
absl::StatusOr<std::string> ToJson(const Value& v, const JsonOptions& options);

// UTF-8 helpers: strings are indexed by code point, like Python str.
// Byte offset of every code point plus a final entry at s.size().
std::vector<size_t> CodePointOffsets(std::string_view s);
// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(uint32_t cp, std::string* out);
// Decodes the code point at `*pos` and advances; invalid bytes decode as themselves.
uint32_t DecodeUtf8(std::string_view s, size_t* pos);
// Python's str.isspace() for one code point.
bool IsPySpace(uint32_t cp);

}  // namespace moe::chat
