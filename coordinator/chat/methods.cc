// Attribute and item access and the Python str/dict/list methods of the chat-template
// interpreter (declared in builtins.h). Mutating methods are refused like transformers'
// ImmutableSandboxedEnvironment does.
#include <set>

#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

// The python type shown in "'<type> object' has no attribute" messages.
std::string ObjectName(const Value& v) {
  if (v.is_none()) return "None";
  return TypeName(v) + " object";
}

Value NoAttribute(const Value& obj, const std::string& name) {
  return Value::Undefined(absl::StrCat("'", ObjectName(obj), "' has no attribute '", name, "'"));
}

Value Unsafe(const Value& obj, const std::string& name) {
  return Value::Undefined(
      absl::StrCat("access to attribute '", name, "' of '", TypeName(obj), "' object is unsafe."));
}

absl::Status ArgError(const std::string& method, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(method, "(): ", message));
}

absl::StatusOr<std::string> StringArg(const CallArgs& args, size_t index, const std::string& name,
                                      const std::string& method) {
  const Value* v = args.Get(index, name);
  if (v == nullptr) return ArgError(method, absl::StrCat("missing argument '", name, "'"));
  if (!v->is_string()) {
    return ArgError(method, absl::StrCat("argument '", name, "' must be str, not ", TypeName(*v)));
  }
  return v->str();
}

absl::StatusOr<int64_t> IntArg(const CallArgs& args, size_t index, const std::string& name,
                               int64_t def, const std::string& method) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_none()) return def;
  if (!v->is_integral()) {
    return ArgError(method, absl::StrCat("argument '", name, "' must be int, not ", TypeName(*v)));
  }
  return v->int_value();
}

// s[start:end] for the optional start/end arguments of find/count/startswith.
absl::StatusOr<std::string> Window(const std::string& s, const CallArgs& args, size_t index,
                                   const std::string& method, int64_t* offset) {
  MOE_ASSIGN_OR_RETURN(int64_t start, IntArg(args, index, "start", 0, method));
  int64_t n = PyLen(s);
  MOE_ASSIGN_OR_RETURN(int64_t end, IntArg(args, index + 1, "end", n, method));
  if (start < 0) start = std::max<int64_t>(start + n, 0);
  *offset = std::min(start, n);
  return PySubstr(s, start, end);
}

// Code point index of the byte offset `byte` in `s`.
int64_t CodePointIndex(const std::string& s, size_t byte) { return PyLen(s.substr(0, byte)); }

absl::StatusOr<Value> AffixTest(const std::string& s, const CallArgs& args, bool prefix) {
  const char* method = prefix ? "startswith" : "endswith";
  const Value* affix = args.Get(0, "prefix");
  if (affix == nullptr) return ArgError(method, "missing argument");
  int64_t offset = 0;
  MOE_ASSIGN_OR_RETURN(std::string window, Window(s, args, 1, method, &offset));
  ValueList options = affix->kind() == Kind::kTuple ? affix->list() : ValueList{*affix};
  for (const Value& option : options) {
    if (!option.is_string()) {
      return ArgError(
          method, absl::StrCat("first arg must be str or a tuple of str, not ", TypeName(option)));
    }
    const std::string& a = option.str();
    if (a.size() > window.size()) continue;
    if (prefix ? window.compare(0, a.size(), a) == 0
               : window.compare(window.size() - a.size(), a.size(), a) == 0) {
      return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

absl::StatusOr<Value> Find(const std::string& s, const CallArgs& args, const std::string& method) {
  MOE_ASSIGN_OR_RETURN(std::string sub, StringArg(args, 0, "sub", method));
  int64_t offset = 0;
  MOE_ASSIGN_OR_RETURN(std::string window, Window(s, args, 1, method, &offset));
  bool reverse = method == "rfind" || method == "rindex";
  size_t hit = reverse ? window.rfind(sub) : window.find(sub);
  if (hit == std::string::npos) {
    if (method == "index" || method == "rindex") {
      return absl::InvalidArgumentError("substring not found");
    }
    return Value::Int(-1);
  }
  return Value::Int(offset + CodePointIndex(window, hit));
}

bool AllCodePoints(const std::string& s, bool (*pred)(uint32_t)) {
  if (s.empty()) return false;
  size_t pos = 0;
  while (pos < s.size()) {
    if (!pred(DecodeUtf8(s, &pos))) return false;
  }
  return true;
}

bool IsDigitCp(uint32_t cp) { return cp >= '0' && cp <= '9'; }
bool IsAlphaCp(uint32_t cp) {
  return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && !IsPySpace(cp));
}
bool IsAlnumCp(uint32_t cp) { return IsDigitCp(cp) || IsAlphaCp(cp); }
bool IsSpaceCp(uint32_t cp) { return IsPySpace(cp); }

absl::StatusOr<Value> Justify(const std::string& s, const CallArgs& args,
                              const std::string& method) {
  MOE_ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", 0, method));
  std::string fill = " ";
  if (const Value* f = args.Get(1, "fillchar"); f != nullptr) {
    if (!f->is_string() || PyLen(f->str()) != 1) {
      return ArgError(method, "the fill character must be exactly one character long");
    }
    fill = f->str();
  }
  int64_t pad = width - PyLen(s);
  if (pad <= 0) return Value::String(s);
  int64_t left = 0;
  if (method == "rjust") left = pad;
  if (method == "center") left = pad / 2 + (pad & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < pad; ++i) out += fill;
  return Value::String(std::move(out));
}

absl::StatusOr<Value> CallStrMethod(const std::string& name, const std::string& s,
                                    const CallArgs& args) {
  if (name == "startswith" || name == "endswith") return AffixTest(s, args, name == "startswith");
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* chars = args.Get(0, "chars");
    if (chars != nullptr && !chars->is_string() && !chars->is_none()) {
      return ArgError(name, "arg must be None or str");
    }
    return Value::String(PyStrip(s, chars, name[0] == 's' ? 'b' : name[0]));
  }
  if (name == "split" || name == "rsplit") {
    const Value* sep = args.Get(0, "sep");
    if (sep != nullptr && !sep->is_string() && !sep->is_none()) {
      return ArgError(name, "must be str or None");
    }
    if (sep != nullptr && sep->is_string() && sep->str().empty()) {
      return absl::InvalidArgumentError("empty separator");
    }
    MOE_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(args, 1, "maxsplit", -1, name));
    return Value::List(PySplit(s, sep, maxsplit, name == "rsplit"));
  }
  if (name == "splitlines") {
    ValueList lines;
    for (std::string& line : PySplitLines(s)) lines.push_back(Value::String(std::move(line)));
    return Value::List(std::move(lines));
  }
  if (name == "lower" || name == "casefold") return Value::String(PyLower(s));
  if (name == "upper") return Value::String(PyUpper(s));
  if (name == "title") return Value::String(PyStrTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "replace") {
    MOE_ASSIGN_OR_RETURN(std::string old_text, StringArg(args, 0, "old", name));
    MOE_ASSIGN_OR_RETURN(std::string new_text, StringArg(args, 1, "new", name));
    MOE_ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", -1, name));
    return Value::String(PyReplace(s, old_text, new_text, count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    return Find(s, args, name);
  }
  if (name == "count") {
    MOE_ASSIGN_OR_RETURN(std::string sub, StringArg(args, 0, "sub", name));
    int64_t offset = 0;
    MOE_ASSIGN_OR_RETURN(std::string window, Window(s, args, 1, name, &offset));
    if (sub.empty()) return Value::Int(PyLen(window) + 1);
    int64_t count = 0;
    for (size_t pos = window.find(sub); pos != std::string::npos;
         pos = window.find(sub, pos + sub.size())) {
      ++count;
    }
    return Value::Int(count);
  }
  if (name == "format") {
    MOE_ASSIGN_OR_RETURN(std::string text, BraceFormat(s, args));
    return Value::String(std::move(text));
  }
  if (name == "join") {
    const Value* items = args.Get(0, "iterable");
    if (items == nullptr) return ArgError(name, "missing argument");
    MOE_ASSIGN_OR_RETURN(ValueList list, Iterate(*items));
    std::string out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sequence item ", i, ": expected str instance, ", TypeName(list[i]), " found"));
      }
      if (i > 0) out += s;
      out += list[i].str();
    }
    return Value::String(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    MOE_ASSIGN_OR_RETURN(std::string affix, StringArg(args, 0, "affix", name));
    if (name == "removeprefix" && s.compare(0, affix.size(), affix) == 0) {
      return Value::String(s.substr(affix.size()));
    }
    if (name == "removesuffix" && !affix.empty() && s.size() >= affix.size() &&
        s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
      return Value::String(s.substr(0, s.size() - affix.size()));
    }
    return Value::String(s);
  }
  if (name == "center" || name == "ljust" || name == "rjust") return Justify(s, args, name);
  if (name == "zfill") {
    MOE_ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", 0, name));
    int64_t pad = width - PyLen(s);
    if (pad <= 0) return Value::String(s);
    size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    return Value::String(s.substr(0, sign) + std::string(pad, '0') + s.substr(sign));
  }
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value::Bool(AllCodePoints(s, IsDigitCp));
  }
  if (name == "isalpha") return Value::Bool(AllCodePoints(s, IsAlphaCp));
  if (name == "isalnum") return Value::Bool(AllCodePoints(s, IsAlnumCp));
  if (name == "isspace") return Value::Bool(AllCodePoints(s, IsSpaceCp));
  if (name == "islower") return Value::Bool(PyLower(s) == s && PyUpper(s) != s);
  if (name == "isupper") return Value::Bool(PyUpper(s) == s && PyLower(s) != s);
  return absl::InvalidArgumentError(absl::StrCat("str method '", name, "' is not supported"));
}

const std::set<std::string>& StrMethods() {
  static const auto* names = new std::set<std::string>{
      "startswith",   "endswith",     "strip",    "lstrip",  "rstrip",  "split",      "rsplit",
      "splitlines",   "lower",        "casefold", "upper",   "title",   "capitalize", "replace",
      "find",         "rfind",        "index",    "rindex",  "count",   "format",     "join",
      "removeprefix", "removesuffix", "center",   "ljust",   "rjust",   "zfill",      "isdigit",
      "isnumeric",    "isdecimal",    "isalpha",  "isalnum", "isspace", "islower",    "isupper"};
  return *names;
}

absl::StatusOr<Value> CallDictMethod(const std::string& name, const Value& dict,
                                     const CallArgs& args) {
  const ValueDict& d = dict.dict();
  if (name == "items") {
    ValueList items;
    for (const auto& [key, value] : d.entries) items.push_back(Value::Tuple({key, value}));
    return Value::View("dict_items", std::move(items));
  }
  if (name == "keys" || name == "values") {
    ValueList items;
    for (const auto& [key, value] : d.entries) items.push_back(name == "keys" ? key : value);
    return Value::View(name == "keys" ? "dict_keys" : "dict_values", std::move(items));
  }
  if (name == "get") {
    const Value* key = args.Get(0, "key");
    if (key == nullptr) return ArgError(name, "missing argument 'key'");
    if (const Value* found = d.Find(*key); found != nullptr) return *found;
    const Value* def = args.Get(1, "default");
    return def != nullptr ? *def : Value::None();
  }
  return dict;  // copy
}

absl::StatusOr<Value> CallListMethod(const std::string& name, const Value& list,
                                     const CallArgs& args) {
  const Value* item = args.Get(0, "value");
  if (item == nullptr) return ArgError(name, "missing argument");
  const ValueList& items = list.list();
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!Equals(items[i], *item)) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") {
    return absl::InvalidArgumentError(absl::StrCat(Repr(*item), " is not in list"));
  }
  return Value::Int(count);
}

Value Bind(const std::string& name, const Value& obj,
           absl::StatusOr<Value> (*method)(const std::string&, const Value&, const CallArgs&)) {
  return Value::Callable(
      name, [name, obj, method](const CallArgs& args) { return method(name, obj, args); });
}

absl::StatusOr<Value> CallStrMethodOnValue(const std::string& name, const Value& obj,
                                           const CallArgs& args) {
  return CallStrMethod(name, obj.str(), args);
}

}  // namespace

absl::StatusOr<Value> GetAttr(const Value& obj, const std::string& name) {
  static const std::set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy"};
  static const std::set<std::string> kDictUnsafe = {"pop", "popitem", "clear", "update",
                                                    "setdefault"};
  static const std::set<std::string> kListUnsafe = {"append", "extend",  "insert", "pop",
                                                    "remove", "reverse", "sort",   "clear"};
  switch (obj.kind()) {
    case Kind::kUndefined:
      return absl::InvalidArgumentError(obj.str().empty() ? "value is undefined" : obj.str());
    case Kind::kString:
      if (StrMethods().count(name) > 0) return Bind(name, obj, CallStrMethodOnValue);
      return NoAttribute(obj, name);
    case Kind::kDict: {
      if (kDictMethods.count(name) > 0) return Bind(name, obj, CallDictMethod);
      if (kDictUnsafe.count(name) > 0) return Unsafe(obj, name);
      const Value* v = obj.dict().Find(name);
      return v != nullptr ? *v : NoAttribute(obj, name);
    }
    case Kind::kNamespace: {
      const Value* v = obj.dict().Find(name);
      return v != nullptr ? *v : NoAttribute(obj, name);
    }
    case Kind::kList:
    case Kind::kTuple:
      if (name == "index" || name == "count") return Bind(name, obj, CallListMethod);
      if (obj.kind() == Kind::kList && kListUnsafe.count(name) > 0) return Unsafe(obj, name);
      return NoAttribute(obj, name);
    default:
      return NoAttribute(obj, name);
  }
}

absl::StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) {
    return absl::InvalidArgumentError(obj.str().empty() ? "value is undefined" : obj.str());
  }
  auto missing = [&]() {
    return Value::Undefined(absl::StrCat("'", ObjectName(obj), "' has no element ", Repr(key)));
  };
  if ((obj.is_list_like() || obj.is_string()) && key.is_integral()) {
    int64_t n = obj.is_string() ? PyLen(obj.str()) : static_cast<int64_t>(obj.list().size());
    int64_t i = key.int_value();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return missing();
    if (obj.is_string()) return Value::String(PySubstr(obj.str(), i, i + 1));
    return obj.list()[static_cast<size_t>(i)];
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().Find(key); v != nullptr) return *v;
    if (!key.is_string()) return missing();
  }
  if (key.is_string()) return GetAttr(obj, key.str());
  return missing();
}

absl::StatusOr<Value> GetSlice(const Value& obj, const Value& start, const Value& stop,
                               const Value& step) {
  if (obj.is_undefined()) {
    return absl::InvalidArgumentError(obj.str().empty() ? "value is undefined" : obj.str());
  }
  if (!obj.is_list_like() && !obj.is_string()) {
    return Value::Undefined(absl::StrCat("'", ObjectName(obj), "' cannot be sliced"));
  }
  if ((!start.is_none() && !start.is_integral()) || (!stop.is_none() && !stop.is_integral()) ||
      (!step.is_none() && !step.is_integral())) {
    return Value::Undefined("slice indices must be integers or None");
  }
  if (obj.is_string()) {
    std::vector<size_t> offsets = CodePointOffsets(obj.str());
    MOE_ASSIGN_OR_RETURN(std::vector<int64_t> indexes,
                         SliceIndexes(static_cast<int64_t>(offsets.size() - 1), start, stop, step));
    std::string out;
    for (int64_t i : indexes) {
      out += obj.str().substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    return Value::String(std::move(out));
  }
  const ValueList& items = obj.list();
  MOE_ASSIGN_OR_RETURN(std::vector<int64_t> indexes,
                       SliceIndexes(static_cast<int64_t>(items.size()), start, stop, step));
  ValueList out;
  out.reserve(indexes.size());
  for (int64_t i : indexes) out.push_back(items[static_cast<size_t>(i)]);
  return obj.kind() == Kind::kTuple ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kView:
      for (const Value& v : container.list()) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Kind::kGenerator: {
      MOE_ASSIGN_OR_RETURN(ValueList items, container.Consume());
      for (const Value& v : items) {
        if (Equals(v, item)) return true;
      }
      return false;
    }
    case Kind::kDict:
      if (item.is_list_like() || item.is_dict()) {
        return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(item), "'"));
      }
      return container.dict().Find(item) != nullptr;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

}  // namespace moe::chat
