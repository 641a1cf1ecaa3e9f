// Jinja2 filters of the chat-template interpreter (declared in builtins.h), with
// transformers' tojson (json.dumps with ensure_ascii=False, indent, separators, sort_keys).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

using FilterFn = absl::StatusOr<Value> (*)(const Value& input, const CallArgs& args);

// Argument `index` (after the input) or keyword `name`, or `def`.
Value Arg(const CallArgs& args, size_t index, std::string_view name, Value def = Value::None()) {
  const Value* v = args.Get(index, name);
  return v != nullptr ? *v : def;
}

// Keyword argument `name` only; nullptr when absent.
const Value* Keyword(const CallArgs& args, std::string_view name) {
  for (const auto& [key, value] : args.keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

absl::Status FilterError(const std::string& filter, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("filter '", filter, "': ", message));
}

absl::StatusOr<int64_t> IntArg(const CallArgs& args, size_t index, const std::string& name,
                               int64_t def, const std::string& filter) {
  Value v = Arg(args, index, name);
  if (v.is_none()) return def;
  if (!v.is_integral()) {
    return FilterError(filter, absl::StrCat("'", name, "' must be an integer, got ", TypeName(v)));
  }
  return v.int_value();
}

// Jinja's make_attrgetter: "a.b.0" looked up with getitem semantics, part by part.
absl::StatusOr<Value> AttrPath(const Value& item, const Value& attribute) {
  if (attribute.is_integral()) return GetItem(item, attribute);
  std::string path = Str(attribute);
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    Value key = digits ? Value::Int(std::strtoll(part.c_str(), nullptr, 10)) : Value::String(part);
    MOE_ASSIGN_OR_RETURN(v, GetItem(v, key));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// Sort/unique/min/max key: an attribute path and case folding of strings.
absl::StatusOr<Value> SortKey(const Value& item, const Value& attribute, bool case_sensitive) {
  Value v = item;
  if (!attribute.is_none()) {
    MOE_ASSIGN_OR_RETURN(v, AttrPath(item, attribute));
  }
  if (!case_sensitive && v.is_string()) return Value::String(PyLower(v.str()));
  return v;
}

// Stable sort of `items` by `keys` (Python ordering).
absl::Status SortByKeys(ValueList* items, const ValueList& keys, bool reverse) {
  std::vector<size_t> order(items->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  absl::Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    auto c = reverse ? Compare(keys[b], keys[a]) : Compare(keys[a], keys[b]);
    if (!c.ok()) {
      if (error.ok()) error = c.status();
      return false;
    }
    return *c < 0;
  });
  MOE_RETURN_IF_ERROR(error);
  ValueList sorted;
  sorted.reserve(items->size());
  for (size_t i : order) sorted.push_back((*items)[i]);
  *items = std::move(sorted);
  return absl::OkStatus();
}

// ---- filters ----

absl::StatusOr<Value> FAbs(const Value& v, const CallArgs&) {
  if (v.kind() == Kind::kFloat) return Value::Float(std::fabs(v.float_value()));
  if (v.is_integral()) {
    if (v.int_value() == INT64_MIN) return absl::InvalidArgumentError("integer overflow");
    return Value::Int(std::llabs(v.int_value()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad operand type for abs(): '", TypeName(v), "'"));
}

absl::StatusOr<Value> FAttr(const Value& v, const CallArgs& args) {
  std::string name = Str(Arg(args, 0, "name"));
  if (v.is_dict()) {  // attribute access only: dict keys are not attributes
    static const char* kMethods[] = {"items", "keys", "values", "get", "copy"};
    for (const char* m : kMethods) {
      if (name == m) return GetAttr(v, name);
    }
    return Value::Undefined(absl::StrCat("'dict object' has no attribute '", name, "'"));
  }
  return GetAttr(v, name);
}

absl::StatusOr<Value> FCapitalize(const Value& v, const CallArgs&) {
  return Value::String(PyCapitalize(Str(v)));
}

absl::StatusOr<Value> FCenter(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", 80, "center"));
  std::string s = Str(v);
  int64_t pad = width - PyLen(s);
  if (pad <= 0) return Value::String(s);
  int64_t left = pad / 2 + (pad & width & 1);
  return Value::String(std::string(left, ' ') + s + std::string(pad - left, ' '));
}

absl::StatusOr<Value> FDefault(const Value& v, const CallArgs& args) {
  bool boolean = Truthy(Arg(args, 1, "boolean", Value::Bool(false)));
  if (v.is_undefined() || (boolean && !Truthy(v))) {
    return Arg(args, 0, "default_value", Value::String(""));
  }
  return v;
}

absl::StatusOr<Value> FDictsort(const Value& v, const CallArgs& args) {
  if (!v.is_dict()) return FilterError("dictsort", "can only sort a mapping");
  bool case_sensitive = Truthy(Arg(args, 0, "case_sensitive", Value::Bool(false)));
  std::string by = Str(Arg(args, 1, "by", Value::String("key")));
  bool reverse = Truthy(Arg(args, 2, "reverse", Value::Bool(false)));
  if (by != "key" && by != "value") {
    return FilterError("dictsort", "You can only sort by either 'key' or 'value'");
  }
  ValueList items;
  ValueList keys;
  for (const auto& [key, value] : v.dict().entries) {
    items.push_back(Value::Tuple({key, value}));
    MOE_ASSIGN_OR_RETURN(Value k,
                         SortKey(by == "key" ? key : value, Value::None(), case_sensitive));
    keys.push_back(std::move(k));
  }
  MOE_RETURN_IF_ERROR(SortByKeys(&items, keys, reverse));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FEscape(const Value& v, const CallArgs&) {
  std::string out;
  for (char c : Str(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FFirst(const Value& v, const CallArgs&) {
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return items.front();
}

absl::StatusOr<Value> FLast(const Value& v, const CallArgs&) {
  if (v.kind() == Kind::kGenerator) {
    return absl::InvalidArgumentError(absl::StrCat("'", TypeName(v), "' object is not reversible"));
  }
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
  return items.back();
}

// Python float(str): surrounding whitespace, underscores between digits, inf/nan.
bool ParseFloat(const std::string& text, double* out) {
  std::string s = PyStrip(text, nullptr, 'b');
  std::string cleaned;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    cleaned.push_back(s[i]);
  }
  if (cleaned.empty() || cleaned.find_first_of("xXpP") != std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(cleaned.c_str(), &end);
  return end == cleaned.c_str() + cleaned.size();
}

// Python int(str, base).
bool ParseInt(const std::string& text, int base, int64_t* out) {
  std::string s = PyStrip(text, nullptr, 'b');
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (base == 16 && s.compare(i, 2, "0x") == 0) i += 2;
  if (i >= s.size()) return false;
  __int128 value = 0;
  bool last_digit = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && last_digit && i + 1 < s.size()) {
      last_digit = false;
      continue;
    }
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'z') ? c - 'a' + 10
            : (c >= 'A' && c <= 'Z') ? c - 'A' + 10
                                     : 99;
    if (d >= base) return false;
    value = value * base + d;
    if (value > static_cast<__int128>(INT64_MAX)) return false;
    last_digit = true;
  }
  if (!last_digit) return false;
  *out = static_cast<int64_t>(negative ? -value : value);
  return true;
}

absl::StatusOr<Value> FFloat(const Value& v, const CallArgs& args) {
  if (v.is_undefined()) return absl::InvalidArgumentError(v.str());
  Value def = Arg(args, 0, "default", Value::Float(0.0));
  if (v.is_number()) return Value::Float(v.float_value());
  double d = 0;
  if (v.is_string() && ParseFloat(v.str(), &d)) return Value::Float(d);
  return def;
}

absl::StatusOr<Value> FInt(const Value& v, const CallArgs& args) {
  if (v.is_undefined()) return absl::InvalidArgumentError(v.str());
  Value def = Arg(args, 0, "default", Value::Int(0));
  MOE_ASSIGN_OR_RETURN(int64_t base, IntArg(args, 1, "base", 10, "int"));
  if (v.is_integral()) return Value::Int(v.int_value());
  if (v.kind() == Kind::kFloat) {
    double d = v.float_value();
    if (std::isnan(d) || std::isinf(d) || std::fabs(d) >= 9.2e18) return def;
    return Value::Int(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    int64_t i = 0;
    if (base >= 2 && base <= 36 && ParseInt(v.str(), static_cast<int>(base), &i)) {
      return Value::Int(i);
    }
    double d = 0;
    if (ParseFloat(v.str(), &d) && !std::isnan(d) && !std::isinf(d) && std::fabs(d) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(d));
    }
  }
  return def;
}

absl::StatusOr<Value> FFormat(const Value& v, const CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    return FilterError("format", "can't handle positional and keyword arguments at the same time");
  }
  Value params;
  if (!args.keyword.empty()) {
    ValueDict dict;
    for (const auto& [key, value] : args.keyword) dict.Set(Value::String(key), value);
    params = Value::Dict(std::move(dict));
  } else {
    params = Value::Tuple(args.positional);
  }
  MOE_ASSIGN_OR_RETURN(std::string text, PercentFormat(Str(v), params));
  return Value::String(std::move(text));
}

absl::StatusOr<Value> FIndent(const Value& v, const CallArgs& args) {
  if (v.is_undefined()) return absl::InvalidArgumentError(v.str());
  if (!v.is_string()) {
    return FilterError("indent", absl::StrCat("expected a string, got ", TypeName(v)));
  }
  Value width = Arg(args, 0, "width", Value::Int(4));
  bool first = Truthy(Arg(args, 1, "first", Value::Bool(false)));
  bool blank = Truthy(Arg(args, 2, "blank", Value::Bool(false)));
  std::string indent;
  if (width.is_string()) {
    indent = width.str();
  } else if (width.is_integral()) {
    indent = std::string(static_cast<size_t>(std::max<int64_t>(0, width.int_value())), ' ');
  } else {
    return FilterError("indent", "width must be an integer or a string");
  }
  std::vector<std::string> lines = PySplitLines(v.str() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (blank || !lines[i].empty()) out += indent;
    }
    out += lines[i];
  }
  if (first) out = indent + out;
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FItems(const Value& v, const CallArgs&) {
  if (v.is_undefined()) return Value::Generator("generator", {});
  if (!v.is_dict()) return FilterError("items", "can only get item pairs from a mapping");
  ValueList items;
  for (const auto& [key, value] : v.dict().entries) items.push_back(Value::Tuple({key, value}));
  return Value::Generator("generator", std::move(items));
}

absl::StatusOr<Value> FJoin(const Value& v, const CallArgs& args) {
  std::string sep = Str(Arg(args, 0, "d", Value::String("")));
  Value attribute = Arg(args, 1, "attribute");
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (!attribute.is_none()) {
      MOE_ASSIGN_OR_RETURN(item, AttrPath(item, attribute));
    }
    if (i > 0) out += sep;
    out += Str(item);
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FLength(const Value& v, const CallArgs&) {
  MOE_ASSIGN_OR_RETURN(int64_t n, Length(v));
  return Value::Int(n);
}

absl::StatusOr<Value> FList(const Value& v, const CallArgs&) {
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FLower(const Value& v, const CallArgs&) {
  return Value::String(PyLower(Str(v)));
}

absl::StatusOr<Value> FUpper(const Value& v, const CallArgs&) {
  return Value::String(PyUpper(Str(v)));
}

absl::StatusOr<Value> FTitle(const Value& v, const CallArgs&) {
  return Value::String(PyTitle(Str(v)));
}

absl::StatusOr<Value> FMap(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  ValueList out;
  if (const Value* attribute = Keyword(args, "attribute"); attribute != nullptr) {
    const Value* default_value = Keyword(args, "default");
    Value def = default_value != nullptr ? *default_value : Value();
    for (const Value& item : items) {
      MOE_ASSIGN_OR_RETURN(Value mapped, AttrPath(item, *attribute));
      out.push_back(mapped.is_undefined() && !def.is_undefined() ? def : mapped);
    }
    return Value::Generator("generator", std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    return FilterError("map", "expected a filter name or attribute=");
  }
  std::string name = args.positional[0].str();
  if (!IsKnownFilter(name)) {
    return FilterError("map", absl::StrCat("no filter named '", std::string(name), "'"));
  }
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value mapped, ApplyFilter(name, item, rest));
    out.push_back(std::move(mapped));
  }
  return Value::Generator("generator", std::move(out));
}

absl::StatusOr<Value> MinMax(const Value& v, const CallArgs& args, bool max) {
  bool case_sensitive = Truthy(Arg(args, 0, "case_sensitive", Value::Bool(false)));
  Value attribute = Arg(args, 1, "attribute");
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.empty()) {
    return Value::Undefined(absl::StrCat("No aggregated item, sequence was empty."));
  }
  size_t best = 0;
  MOE_ASSIGN_OR_RETURN(Value best_key, SortKey(items[0], attribute, case_sensitive));
  for (size_t i = 1; i < items.size(); ++i) {
    MOE_ASSIGN_OR_RETURN(Value key, SortKey(items[i], attribute, case_sensitive));
    MOE_ASSIGN_OR_RETURN(int c, Compare(key, best_key));
    if (max ? c > 0 : c < 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

absl::StatusOr<Value> FMax(const Value& v, const CallArgs& args) { return MinMax(v, args, true); }
absl::StatusOr<Value> FMin(const Value& v, const CallArgs& args) { return MinMax(v, args, false); }

absl::StatusOr<Value> FReplace(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", -1, "replace"));
  return Value::String(
      PyReplace(Str(v), Str(Arg(args, 0, "old")), Str(Arg(args, 1, "new")), count));
}

absl::StatusOr<Value> FReverse(const Value& v, const CallArgs&) {
  if (v.is_string()) {
    MOE_ASSIGN_OR_RETURN(Value r, GetSlice(v, Value::None(), Value::None(), Value::Int(-1)));
    return r;
  }
  if (v.is_undefined()) return Value::Generator("reversed", {});
  bool reversible = v.is_list_like() || v.is_dict();  // reversed() works on these
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  std::reverse(items.begin(), items.end());
  if (!reversible) return Value::List(std::move(items));
  return Value::Generator(v.kind() == Kind::kList    ? "list_reverseiterator"
                          : v.kind() == Kind::kTuple ? "reversed"
                                                     : "dict_reversekeyiterator",
                          std::move(items));
}

absl::StatusOr<Value> FRound(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(int64_t precision, IntArg(args, 0, "precision", 0, "round"));
  std::string method = Str(Arg(args, 1, "method", Value::String("common")));
  if (method != "common" && method != "ceil" && method != "floor") {
    return FilterError("round", "method must be common, ceil or floor");
  }
  if (!v.is_number()) {
    return FilterError("round", absl::StrCat("expected a number, got ", TypeName(v)));
  }
  if (method == "common" && v.is_integral() && precision >= 0) return Value::Int(v.int_value());
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.float_value() * scale;
  double r = method == "ceil"    ? std::ceil(x)
             : method == "floor" ? std::floor(x)
                                 : std::nearbyint(x);  // half to even, like Python's round
  return Value::Float(r / scale);
}

// Markup(value): a string (Markup's escaping when concatenated is not modelled).
absl::StatusOr<Value> FSafe(const Value& v, const CallArgs&) { return Value::String(Str(v)); }

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> Select(const Value& v, const CallArgs& args, bool by_attribute, bool keep) {
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) return FilterError("selectattr", "missing attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return FilterError("select", "test name expected");
    test = args.positional[next++].str();
    if (!IsKnownTest(test)) {
      return FilterError("select", absl::StrCat("no test named '", test, "'"));
    }
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<long>(next),
                              args.positional.end());
  test_args.keyword = args.keyword;
  ValueList out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      MOE_ASSIGN_OR_RETURN(subject, AttrPath(item, attribute));
    }
    bool result = false;
    if (test.empty()) {
      result = Truthy(subject);
    } else {
      MOE_ASSIGN_OR_RETURN(result, ApplyTest(test, subject, test_args));
    }
    if (result == keep) out.push_back(item);
  }
  return Value::Generator("generator", std::move(out));
}

absl::StatusOr<Value> FSelect(const Value& v, const CallArgs& a) {
  return Select(v, a, false, true);
}
absl::StatusOr<Value> FReject(const Value& v, const CallArgs& a) {
  return Select(v, a, false, false);
}
absl::StatusOr<Value> FSelectAttr(const Value& v, const CallArgs& a) {
  return Select(v, a, true, true);
}
absl::StatusOr<Value> FRejectAttr(const Value& v, const CallArgs& a) {
  return Select(v, a, true, false);
}

absl::StatusOr<Value> FSort(const Value& v, const CallArgs& args) {
  bool reverse = Truthy(Arg(args, 0, "reverse", Value::Bool(false)));
  bool case_sensitive = Truthy(Arg(args, 1, "case_sensitive", Value::Bool(false)));
  Value attribute = Arg(args, 2, "attribute");
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  ValueList keys;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value key, SortKey(item, attribute, case_sensitive));
    keys.push_back(std::move(key));
  }
  MOE_RETURN_IF_ERROR(SortByKeys(&items, keys, reverse));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FString(const Value& v, const CallArgs&) { return Value::String(Str(v)); }

absl::StatusOr<Value> FSum(const Value& v, const CallArgs& args) {
  Value attribute = Arg(args, 0, "attribute");
  Value total = Arg(args, 1, "start", Value::Int(0));
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  for (const Value& item : items) {
    Value x = item;
    if (!attribute.is_none()) {
      MOE_ASSIGN_OR_RETURN(x, AttrPath(item, attribute));
    }
    if (!total.is_number() || !x.is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for +: '",
                                                     TypeName(total), "' and '", TypeName(x), "'"));
    }
    if (total.is_integral() && x.is_integral()) {
      int64_t r = 0;
      if (__builtin_add_overflow(total.int_value(), x.int_value(), &r)) {
        return absl::InvalidArgumentError("integer overflow");
      }
      total = Value::Int(r);
    } else {
      total = Value::Float(total.float_value() + x.float_value());
    }
  }
  return total;
}

absl::StatusOr<Value> FToJson(const Value& v, const CallArgs& args) {
  JsonOptions options;
  options.ensure_ascii = Truthy(Arg(args, 0, "ensure_ascii", Value::Bool(false)));
  Value indent = Arg(args, 1, "indent");
  Value separators = Arg(args, 2, "separators");
  options.sort_keys = Truthy(Arg(args, 3, "sort_keys", Value::Bool(false)));
  if (indent.is_string()) {
    options.indent_set = true;
    options.indent = indent.str();
  } else if (indent.is_integral()) {
    options.indent_set = true;
    options.indent =
        std::string(static_cast<size_t>(std::max<int64_t>(0, indent.int_value())), ' ');
  } else if (!indent.is_none()) {
    return FilterError("tojson", "indent must be None, an integer or a string");
  }
  if (options.indent_set) options.item_separator = ",";
  if (!separators.is_none()) {
    if (!separators.is_list_like() || separators.list().size() != 2 ||
        !separators.list()[0].is_string() || !separators.list()[1].is_string()) {
      return FilterError("tojson", "separators must be a pair of strings");
    }
    options.item_separator = separators.list()[0].str();
    options.key_separator = separators.list()[1].str();
  }
  MOE_ASSIGN_OR_RETURN(std::string text, ToJson(v, options));
  return Value::String(std::move(text));
}

absl::StatusOr<Value> FTrim(const Value& v, const CallArgs& args) {
  const Value* chars = args.Get(0, "chars");
  return Value::String(PyStrip(Str(v), chars, 'b'));
}

absl::StatusOr<Value> FTruncate(const Value& v, const CallArgs& args) {
  std::string s = Str(v);
  MOE_ASSIGN_OR_RETURN(int64_t length, IntArg(args, 0, "length", 255, "truncate"));
  bool killwords = Truthy(Arg(args, 1, "killwords", Value::Bool(false)));
  std::string end = Str(Arg(args, 2, "end", Value::String("...")));
  MOE_ASSIGN_OR_RETURN(int64_t leeway, IntArg(args, 3, "leeway", 5, "truncate"));
  int64_t end_len = PyLen(end);
  if (length < end_len) return FilterError("truncate", "expected length >= len(end)");
  if (PyLen(s) <= length + leeway) return Value::String(s);
  std::string head = PySubstr(s, 0, length - end_len);
  if (killwords) return Value::String(head + end);
  size_t space = head.rfind(' ');
  if (space != std::string::npos) head = head.substr(0, space);
  return Value::String(head + end);
}

absl::StatusOr<Value> FUnique(const Value& v, const CallArgs& args) {
  bool case_sensitive = Truthy(Arg(args, 0, "case_sensitive", Value::Bool(false)));
  Value attribute = Arg(args, 1, "attribute");
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  ValueList out;
  ValueList seen;
  for (const Value& item : items) {
    MOE_ASSIGN_OR_RETURN(Value key, SortKey(item, attribute, case_sensitive));
    bool dup = false;
    for (const Value& s : seen) {
      if (Equals(s, key)) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::Generator("generator", std::move(out));
}

absl::StatusOr<Value> FWordcount(const Value& v, const CallArgs&) {
  std::string s = Str(v);
  int64_t count = 0;
  bool in_word = false;
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    bool word = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                cp == '_' || (cp >= 0xc0 && !IsPySpace(cp));
    if (word && !in_word) ++count;
    in_word = word;
  }
  return Value::Int(count);
}

// Jinja's map/select/reject/unique/items are generators: their errors show only when the
// result is used, and map/select/reject yield nothing for a false input.
template <FilterFn kFilter, bool kFalseIsEmpty>
absl::StatusOr<Value> Lazy(const Value& v, const CallArgs& args) {
  if (kFalseIsEmpty && !Truthy(v)) return Value::Generator("generator", {});
  auto result = kFilter(v, args);
  if (!result.ok()) return Value::FailingGenerator("generator", result.status());
  return result;
}

const std::map<std::string, FilterFn, std::less<>>& Filters() {
  static const auto* filters = new std::map<std::string, FilterFn, std::less<>>{
      {"abs", FAbs},
      {"attr", FAttr},
      {"capitalize", FCapitalize},
      {"center", FCenter},
      {"count", FLength},
      {"d", FDefault},
      {"default", FDefault},
      {"dictsort", FDictsort},
      {"e", FEscape},
      {"escape", FEscape},
      {"first", FFirst},
      {"float", FFloat},
      {"forceescape", FEscape},
      {"format", FFormat},
      {"indent", FIndent},
      {"int", FInt},
      {"items", Lazy<FItems, false>},
      {"join", FJoin},
      {"last", FLast},
      {"length", FLength},
      {"list", FList},
      {"lower", FLower},
      {"map", Lazy<FMap, true>},
      {"max", FMax},
      {"min", FMin},
      {"reject", Lazy<FReject, true>},
      {"rejectattr", Lazy<FRejectAttr, true>},
      {"replace", FReplace},
      {"reverse", FReverse},
      {"round", FRound},
      {"safe", FSafe},
      {"select", Lazy<FSelect, true>},
      {"selectattr", Lazy<FSelectAttr, true>},
      {"sort", FSort},
      {"string", FString},
      {"sum", FSum},
      {"title", FTitle},
      {"tojson", FToJson},
      {"trim", FTrim},
      {"truncate", FTruncate},
      {"unique", Lazy<FUnique, false>},
      {"upper", FUpper},
      {"wordcount", FWordcount},
  };
  return *filters;
}

}  // namespace

bool IsKnownFilter(std::string_view name) { return Filters().count(name) > 0; }

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) {
    return absl::InvalidArgumentError(absl::StrCat("no filter named '", std::string(name), "'"));
  }
  return it->second(input, args);
}

}  // namespace moe::chat
