// Jinja2 tests of the chat-template interpreter (`x is defined`, `x is string`, ...), declared
// in builtins.h.
#include <cmath>
#include <map>

#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

using TestFn = absl::StatusOr<bool> (*)(const Value& input, const CallArgs& args);

absl::StatusOr<bool> TDefined(const Value& v, const CallArgs&) { return !v.is_undefined(); }
absl::StatusOr<bool> TUndefined(const Value& v, const CallArgs&) { return v.is_undefined(); }
absl::StatusOr<bool> TNone(const Value& v, const CallArgs&) { return v.is_none(); }
absl::StatusOr<bool> TBoolean(const Value& v, const CallArgs&) { return v.kind() == Kind::kBool; }
absl::StatusOr<bool> TFalse(const Value& v, const CallArgs&) {
  return v.kind() == Kind::kBool && !v.bool_value();
}
absl::StatusOr<bool> TTrue(const Value& v, const CallArgs&) {
  return v.kind() == Kind::kBool && v.bool_value();
}
absl::StatusOr<bool> TInteger(const Value& v, const CallArgs&) { return v.kind() == Kind::kInt; }
absl::StatusOr<bool> TFloat(const Value& v, const CallArgs&) { return v.kind() == Kind::kFloat; }
absl::StatusOr<bool> TNumber(const Value& v, const CallArgs&) { return v.is_number(); }
absl::StatusOr<bool> TString(const Value& v, const CallArgs&) { return v.is_string(); }
absl::StatusOr<bool> TMapping(const Value& v, const CallArgs&) { return v.is_dict(); }
absl::StatusOr<bool> TIterable(const Value& v, const CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_list_like() || v.is_dict() ||
         v.kind() == Kind::kView || v.kind() == Kind::kGenerator;
}
// len() and __getitem__: not views or generators.
absl::StatusOr<bool> TSequence(const Value& v, const CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_list_like() || v.is_dict();
}
// Undefined counts as callable in Jinja (it has a __call__ that raises).
absl::StatusOr<bool> TCallable(const Value& v, const CallArgs&) {
  return v.kind() == Kind::kFunction || v.is_undefined();
}
absl::StatusOr<bool> TEscaped(const Value&, const CallArgs&) { return false; }
// str(value).islower() / .isupper(): some cased character and none of the other case.
absl::StatusOr<bool> TLower(const Value& v, const CallArgs&) {
  std::string s = Str(v);
  return PyLower(s) == s && PyUpper(s) != s;
}
absl::StatusOr<bool> TUpper(const Value& v, const CallArgs&) {
  std::string s = Str(v);
  return PyUpper(s) == s && PyLower(s) != s;
}

absl::StatusOr<Value> TestArg(const CallArgs& args, const std::string& test) {
  const Value* v = args.Get(0, "other");
  if (v == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("test '", test, "' needs an argument"));
  }
  return *v;
}

absl::StatusOr<bool> TSameAs(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value other, TestArg(args, "sameas"));
  if (v.is_list_like() || v.is_dict() || v.kind() == Kind::kNamespace ||
      v.kind() == Kind::kFunction) {
    return v.SameObject(other);
  }
  return v.kind() == other.kind() && Equals(v, other);
}

absl::StatusOr<bool> TIn(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value seq, TestArg(args, "in"));
  return Contains(seq, v);
}

// Python's value % 2 for numbers.
absl::StatusOr<double> Mod2(const Value& v, const char* test) {
  if (!v.is_number()) {
    return absl::InvalidArgumentError(absl::StrCat("test '", test, "' needs a number"));
  }
  if (v.is_integral()) return static_cast<double>(((v.int_value() % 2) + 2) % 2);
  double r = std::fmod(v.float_value(), 2.0);
  return r < 0 ? r + 2.0 : r;
}

absl::StatusOr<bool> TOdd(const Value& v, const CallArgs&) {
  MOE_ASSIGN_OR_RETURN(double r, Mod2(v, "odd"));
  return r == 1.0;
}

absl::StatusOr<bool> TEven(const Value& v, const CallArgs&) {
  MOE_ASSIGN_OR_RETURN(double r, Mod2(v, "even"));
  return r == 0.0;
}

absl::StatusOr<bool> TDivisibleBy(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value n, TestArg(args, "divisibleby"));
  if (!v.is_number() || !n.is_number()) {
    return absl::InvalidArgumentError("test 'divisibleby' needs numbers");
  }
  if (v.is_integral() && n.is_integral()) {
    if (n.int_value() == 0) return absl::InvalidArgumentError("integer modulo by zero");
    return v.int_value() % n.int_value() == 0;
  }
  if (n.float_value() == 0) return absl::InvalidArgumentError("float modulo");
  return std::fmod(v.float_value(), n.float_value()) == 0;
}

template <int kOp>  // 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=
absl::StatusOr<bool> TCompare(const Value& v, const CallArgs& args) {
  MOE_ASSIGN_OR_RETURN(Value other, TestArg(args, "comparison"));
  if (kOp == 0) return Equals(v, other);
  if (kOp == 1) return !Equals(v, other);
  if (v.is_undefined() || other.is_undefined()) {
    return absl::InvalidArgumentError("cannot compare an undefined value");
  }
  MOE_ASSIGN_OR_RETURN(int c, Compare(v, other));
  if (kOp == 2) return c < 0;
  if (kOp == 3) return c <= 0;
  if (kOp == 4) return c > 0;
  return c >= 0;
}

absl::StatusOr<bool> TFilter(const Value& v, const CallArgs&) {
  return v.is_string() && IsKnownFilter(v.str());
}

absl::StatusOr<bool> TTest(const Value& v, const CallArgs&) {
  return v.is_string() && IsKnownTest(v.str());
}

const std::map<std::string, TestFn, std::less<>>& Tests() {
  static const auto* tests = new std::map<std::string, TestFn, std::less<>>{
      {"!=", TCompare<1>},
      {"<", TCompare<2>},
      {"<=", TCompare<3>},
      {"==", TCompare<0>},
      {">", TCompare<4>},
      {">=", TCompare<5>},
      {"boolean", TBoolean},
      {"callable", TCallable},
      {"defined", TDefined},
      {"divisibleby", TDivisibleBy},
      {"eq", TCompare<0>},
      {"equalto", TCompare<0>},
      {"escaped", TEscaped},
      {"even", TEven},
      {"false", TFalse},
      {"filter", TFilter},
      {"float", TFloat},
      {"ge", TCompare<5>},
      {"greaterthan", TCompare<4>},
      {"gt", TCompare<4>},
      {"in", TIn},
      {"integer", TInteger},
      {"iterable", TIterable},
      {"le", TCompare<3>},
      {"lessthan", TCompare<2>},
      {"lower", TLower},
      {"lt", TCompare<2>},
      {"mapping", TMapping},
      {"ne", TCompare<1>},
      {"none", TNone},
      {"number", TNumber},
      {"odd", TOdd},
      {"sameas", TSameAs},
      {"sequence", TSequence},
      {"string", TString},
      {"test", TTest},
      {"true", TTrue},
      {"undefined", TUndefined},
      {"upper", TUpper},
  };
  return *tests;
}

}  // namespace

bool IsKnownTest(std::string_view name) { return Tests().count(name) > 0; }

absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) {
    return absl::InvalidArgumentError(absl::StrCat("no test named '", std::string(name), "'"));
  }
  return it->second(input, args);
}

}  // namespace moe::chat
