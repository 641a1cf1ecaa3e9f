#include "coordinator/chat/evaluator.h"

#include <cmath>
#include <ctime>
#include <unordered_map>
#include <utility>

#include "absl/strings/match.h"
#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

constexpr int kMaxCallDepth = 100;
constexpr int64_t kMaxRange = 100000;         // Jinja's sandbox MAX_RANGE
constexpr size_t kMaxRepeatBytes = 64 << 20;  // cap on "s" * n and list * n results
constexpr char kErrorPrefix[] = "chat template line ";

enum class Flow { kNormal, kBreak, kContinue };

// One level of variables: the globals, a loop iteration, a macro call, a {% with %}.
struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;

  const Value* Find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr ChildScope(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

// Adds "chat template line L: " unless the error already names a line.
absl::Status Locate(const absl::Status& status, int line) {
  if (status.ok() || absl::StartsWith(status.message(), kErrorPrefix)) return status;
  return absl::InvalidArgumentError(absl::StrCat(kErrorPrefix, line, ": ", status.message()));
}

absl::Status UndefinedError(const Value& v) {
  return absl::InvalidArgumentError(v.str().empty() ? "value is undefined" : v.str());
}

absl::Status BadOperands(const std::string& op, const Value& a, const Value& b) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

int64_t FloorDiv(int64_t x, int64_t y) {
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t x, int64_t y) {
  int64_t r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

absl::StatusOr<Value> IntArith(const std::string& op, int64_t x, int64_t y) {
  int64_t r = 0;
  bool overflow = false;
  if (op == "+") {
    overflow = __builtin_add_overflow(x, y, &r);
  } else if (op == "-") {
    overflow = __builtin_sub_overflow(x, y, &r);
  } else if (op == "*") {
    overflow = __builtin_mul_overflow(x, y, &r);
  } else if (op == "/") {
    if (y == 0) return absl::InvalidArgumentError("division by zero");
    return Value::Float(static_cast<double>(x) / static_cast<double>(y));
  } else if (op == "//" || op == "%") {
    if (y == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) return absl::InvalidArgumentError("integer overflow");
    r = op == "//" ? FloorDiv(x, y) : FloorMod(x, y);
  } else if (op == "**") {
    if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    r = 1;
    for (int64_t i = 0; i < y && !overflow; ++i) {
      overflow = __builtin_mul_overflow(r, x, &r);
      if (r == 0 || r == 1) break;
    }
    if (x == -1) r = (y % 2 == 0) ? 1 : -1;
  }
  if (overflow) return absl::InvalidArgumentError("integer overflow");
  return Value::Int(r);
}

absl::StatusOr<Value> FloatArith(const std::string& op, double x, double y) {
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "**") return Value::Float(std::pow(x, y));
  if (y == 0) return absl::InvalidArgumentError("float division by zero");
  if (op == "/") return Value::Float(x / y);
  if (op == "//") return Value::Float(std::floor(x / y));
  double r = std::fmod(x, y);  // %
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return Value::Float(r);
}

absl::StatusOr<Value> Repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (seq.str().size() * static_cast<size_t>(n) > kMaxRepeatBytes) {
      return absl::InvalidArgumentError("string repetition result too large");
    }
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value::String(std::move(out));
  }
  if (seq.list().size() * static_cast<size_t>(n) > kMaxRepeatBytes / 64) {
    return absl::InvalidArgumentError("list repetition result too large");
  }
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return seq.kind() == Kind::kTuple ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

absl::StatusOr<Value> BinaryOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value::String(Str(a) + Str(b));
  if (op == "%" && a.is_string()) {
    MOE_ASSIGN_OR_RETURN(std::string text, PercentFormat(a.str(), b));
    return Value::String(std::move(text));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return IntArith(op, a.int_value(), b.int_value());
    return FloatArith(op, a.float_value(), b.float_value());
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value::String(a.str() + b.str());
    if (a.is_list_like() && a.kind() == b.kind()) {
      ValueList items = a.list();
      items.insert(items.end(), b.list().begin(), b.list().end());
      return a.kind() == Kind::kTuple ? Value::Tuple(std::move(items))
                                      : Value::List(std::move(items));
    }
  } else if (op == "*") {
    if ((a.is_string() || a.is_list_like()) && b.is_integral()) return Repeat(a, b.int_value());
    if (a.is_integral() && (b.is_string() || b.is_list_like())) return Repeat(b, a.int_value());
  }
  return BadOperands(op, a, b);
}

absl::StatusOr<bool> CompareOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Equals(a, b);
  if (op == "!=") return !Equals(a, b);
  if (op == "in" || op == "notin") {
    MOE_ASSIGN_OR_RETURN(bool found, Contains(b, a));
    return op == "in" ? found : !found;
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  auto c = Compare(a, b);
  if (!c.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", op,
                                                   "' not supported between instances of '",
                                                   TypeName(a), "' and '", TypeName(b), "'"));
  }
  if (op == "<") return *c < 0;
  if (op == "<=") return *c <= 0;
  if (op == ">") return *c > 0;
  return *c >= 0;
}

// Binds `names` to the items of `value` (Python tuple unpacking).
absl::Status Unpack(const std::vector<std::string>& names, const Value& value, Scope* scope) {
  MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(value));
  if (items.size() < names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("not enough values to unpack (expected ",
                                                   names.size(), ", got ", items.size(), ")"));
  }
  if (items.size() > names.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many values to unpack (expected ", names.size(), ")"));
  }
  for (size_t i = 0; i < names.size(); ++i) scope->vars[names[i]] = items[i];
  return absl::OkStatus();
}

class Renderer {
 public:
  Renderer() = default;
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Macros and namespaces can reference the scopes that hold them; clearing the tracked
  // scopes and namespaces breaks those cycles.
  ~Renderer() {
    for (const ScopePtr& scope : macro_scopes_) scope->vars.clear();
    for (const Value& ns : namespaces_) ns.mutable_namespace().entries.clear();
  }

  absl::StatusOr<std::string> Run(const Body& body, const ValueDict& variables) {
    auto builtins = std::make_shared<Scope>();
    AddGlobals(builtins.get());
    ScopePtr globals = ChildScope(builtins);
    macro_scopes_.push_back(globals);
    for (const auto& [key, value] : variables.entries) {
      if (key.is_string()) globals->vars[key.str()] = value;
    }
    std::string out;
    MOE_ASSIGN_OR_RETURN(Flow flow, Exec(body, globals, &out));
    (void)flow;
    return out;
  }

 private:
  void AddGlobals(Scope* scope) {
    scope->vars["range"] =
        Value::Callable("range", [](const CallArgs& args) { return Range(args); });
    scope->vars["namespace"] =
        Value::Callable("namespace", [this](const CallArgs& args) -> absl::StatusOr<Value> {
          MOE_ASSIGN_OR_RETURN(ValueDict dict, DictFromArgs(args, "namespace"));
          Value ns = Value::Namespace(std::move(dict));
          namespaces_.push_back(ns);
          return ns;
        });
    scope->vars["dict"] =
        Value::Callable("dict", [](const CallArgs& args) -> absl::StatusOr<Value> {
          MOE_ASSIGN_OR_RETURN(ValueDict dict, DictFromArgs(args, "dict"));
          return Value::Dict(std::move(dict));
        });
    scope->vars["raise_exception"] =
        Value::Callable("raise_exception", [](const CallArgs& args) -> absl::StatusOr<Value> {
          std::string message =
              args.positional.empty() ? "raise_exception() called" : Str(args.positional[0]);
          return absl::InvalidArgumentError(message);
        });
    scope->vars["strftime_now"] =
        Value::Callable("strftime_now", [](const CallArgs& args) -> absl::StatusOr<Value> {
          const Value* format = args.Get(0, "format");
          if (format == nullptr || !format->is_string()) {
            return absl::InvalidArgumentError("strftime_now: expected a format string");
          }
          std::time_t now = std::time(nullptr);
          std::tm local{};
          localtime_r(&now, &local);
          char buf[512];
          size_t n = std::strftime(buf, sizeof(buf), format->str().c_str(), &local);
          return Value::String(std::string(buf, n));
        });
  }

  static absl::StatusOr<Value> Range(const CallArgs& args) {
    std::vector<int64_t> bounds;
    for (const Value& v : args.positional) {
      if (!v.is_integral()) {
        return absl::InvalidArgumentError(
            absl::StrCat("range: '", TypeName(v), "' object cannot be interpreted as an integer"));
      }
      bounds.push_back(v.int_value());
    }
    if (bounds.empty() || bounds.size() > 3 || !args.keyword.empty()) {
      return absl::InvalidArgumentError("range expects 1 to 3 integer arguments");
    }
    int64_t start = bounds.size() == 1 ? 0 : bounds[0];
    int64_t stop = bounds.size() == 1 ? bounds[0] : bounds[1];
    int64_t step = bounds.size() == 3 ? bounds[2] : 1;
    if (step == 0) return absl::InvalidArgumentError("range() arg 3 must not be zero");
    ValueList items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(items.size()) >= kMaxRange) {
        return absl::InvalidArgumentError("range too big (more than 100000 items)");
      }
      items.push_back(Value::Int(i));
      if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
    }
    return Value::List(std::move(items));
  }

  static absl::StatusOr<ValueDict> DictFromArgs(const CallArgs& args, const std::string& what) {
    ValueDict dict;
    for (const Value& v : args.positional) {
      if (v.kind() != Kind::kDict && v.kind() != Kind::kNamespace) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "() positional arguments must be mappings, got ", TypeName(v)));
      }
      for (const auto& [key, value] : v.dict().entries) dict.Set(key, value);
    }
    for (const auto& [key, value] : args.keyword) dict.Set(Value::String(key), value);
    return dict;
  }

  // ---- statements ----

  absl::StatusOr<Flow> Exec(const Body& body, const ScopePtr& scope, std::string* out) {
    for (const auto& stmt : body) {
      auto flow = ExecStmt(*stmt, scope, out);
      if (!flow.ok()) return Locate(flow.status(), stmt->line);
      if (*flow != Flow::kNormal) return *flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> ExecStmt(const Stmt& stmt, const ScopePtr& scope, std::string* out) {
    switch (stmt.kind) {
      case StmtKind::kText:
        *out += stmt.text;
        return Flow::kNormal;
      case StmtKind::kOutput: {
        MOE_ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr, scope));
        *out += Str(v);
        return Flow::kNormal;
      }
      case StmtKind::kIf:
        for (size_t i = 0; i < stmt.conditions.size(); ++i) {
          MOE_ASSIGN_OR_RETURN(Value cond, Eval(*stmt.conditions[i], scope));
          if (Truthy(cond)) return Exec(stmt.bodies[i], scope, out);
        }
        if (stmt.bodies.size() > stmt.conditions.size()) {
          return Exec(stmt.bodies.back(), scope, out);
        }
        return Flow::kNormal;
      case StmtKind::kFor:
        return ExecFor(stmt, scope, out);
      case StmtKind::kSet: {
        MOE_ASSIGN_OR_RETURN(Value value, Eval(*stmt.expr, scope));
        return Assign(stmt, std::move(value), scope);
      }
      case StmtKind::kSetBlock: {
        std::string text;
        MOE_ASSIGN_OR_RETURN(Flow flow, Exec(stmt.bodies[0], ChildScope(scope), &text));
        (void)flow;
        Value value = Value::String(std::move(text));
        for (const auto& filter : stmt.filters) {
          MOE_ASSIGN_OR_RETURN(value, EvalFilter(*filter, value, scope));
        }
        return Assign(stmt, std::move(value), scope);
      }
      case StmtKind::kMacro:
        scope->vars[stmt.name] = MakeMacro(stmt, scope);
        macro_scopes_.push_back(scope);
        return Flow::kNormal;
      case StmtKind::kWith: {
        ScopePtr inner = ChildScope(scope);
        for (size_t i = 0; i < stmt.targets.size(); ++i) {
          MOE_ASSIGN_OR_RETURN(Value value, Eval(*stmt.values[i], scope));
          inner->vars[stmt.targets[i]] = std::move(value);
        }
        return Exec(stmt.bodies[0], inner, out);
      }
      case StmtKind::kBlock:
        return Exec(stmt.bodies[0], scope, out);
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> Assign(const Stmt& stmt, Value value, const ScopePtr& scope) {
    if (!stmt.attribute.empty()) {
      const Value* target = scope->Find(stmt.targets[0]);
      if (target == nullptr || target->kind() != Kind::kNamespace) {
        return absl::InvalidArgumentError(absl::StrCat("cannot assign attribute '", stmt.attribute,
                                                       "' on non-namespace object '",
                                                       stmt.targets[0], "'"));
      }
      target->mutable_namespace().Set(Value::String(stmt.attribute), std::move(value));
    } else if (stmt.tuple_target) {
      MOE_RETURN_IF_ERROR(Unpack(stmt.targets, value, scope.get()));
    } else {
      scope->vars[stmt.targets[0]] = std::move(value);
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> ExecFor(const Stmt& stmt, const ScopePtr& scope, std::string* out) {
    MOE_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr, scope));
    MOE_ASSIGN_OR_RETURN(ValueList items, Iterate(iterable));
    auto bind = [&](const Value& item, Scope* frame) -> absl::Status {
      if (stmt.tuple_target) return Unpack(stmt.targets, item, frame);
      frame->vars[stmt.targets[0]] = item;
      return absl::OkStatus();
    };
    if (stmt.filter != nullptr) {
      ValueList kept;
      for (const Value& item : items) {
        ScopePtr frame = ChildScope(scope);
        MOE_RETURN_IF_ERROR(bind(item, frame.get()));
        MOE_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.filter, frame));
        if (Truthy(keep)) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (stmt.bodies.size() > 1) return Exec(stmt.bodies[1], ChildScope(scope), out);
      return Flow::kNormal;
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      ScopePtr frame = ChildScope(scope);
      MOE_RETURN_IF_ERROR(bind(items[i], frame.get()));
      frame->vars["loop"] = MakeLoop(items, i);
      MOE_ASSIGN_OR_RETURN(Flow flow, Exec(stmt.bodies[0], frame, out));
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  static Value MakeLoop(const ValueList& items, int64_t i) {
    const int64_t n = static_cast<int64_t>(items.size());
    ValueDict loop;
    auto set = [&loop](const char* key, Value v) {
      loop.entries.emplace_back(Value::String(key), std::move(v));
    };
    set("index", Value::Int(i + 1));
    set("index0", Value::Int(i));
    set("revindex", Value::Int(n - i));
    set("revindex0", Value::Int(n - i - 1));
    set("first", Value::Bool(i == 0));
    set("last", Value::Bool(i == n - 1));
    set("length", Value::Int(n));
    set("depth", Value::Int(1));
    set("depth0", Value::Int(0));
    if (i > 0) set("previtem", items[i - 1]);
    if (i + 1 < n) set("nextitem", items[i + 1]);
    set("cycle", Value::Callable("cycle", [i](const CallArgs& args) -> absl::StatusOr<Value> {
          if (args.positional.empty()) {
            return absl::InvalidArgumentError("loop.cycle: no items given");
          }
          return args.positional[static_cast<size_t>(i) % args.positional.size()];
        }));
    return Value::Dict(std::move(loop));
  }

  Value MakeMacro(const Stmt& stmt, const ScopePtr& scope) {
    const Stmt* macro = &stmt;
    return Value::Callable(stmt.name, [this, macro, scope](const CallArgs& args) {
      return CallMacro(*macro, scope, args);
    });
  }

  absl::StatusOr<Value> CallMacro(const Stmt& macro, const ScopePtr& scope, const CallArgs& args) {
    if (call_depth_ >= kMaxCallDepth) {
      return absl::InvalidArgumentError("maximum macro recursion depth exceeded");
    }
    ScopePtr frame = ChildScope(scope);
    std::vector<bool> bound(macro.params.size(), false);
    ValueList varargs;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < macro.params.size()) {
        frame->vars[macro.params[i]] = args.positional[i];
        bound[i] = true;
      } else {
        varargs.push_back(args.positional[i]);
      }
    }
    ValueDict kwargs;
    for (const auto& [name, value] : args.keyword) {
      size_t k = 0;
      while (k < macro.params.size() && macro.params[k] != name) ++k;
      if (k == macro.params.size()) {
        kwargs.Set(Value::String(name), value);
        continue;
      }
      if (bound[k]) {
        return absl::InvalidArgumentError(
            absl::StrCat("macro '", macro.name, "' got multiple values for argument '", name, "'"));
      }
      frame->vars[name] = value;
      bound[k] = true;
    }
    for (size_t k = 0; k < macro.params.size(); ++k) {
      if (bound[k]) continue;
      if (macro.defaults[k] != nullptr) {
        MOE_ASSIGN_OR_RETURN(Value def, Eval(*macro.defaults[k], frame));
        frame->vars[macro.params[k]] = std::move(def);
      } else {
        frame->vars[macro.params[k]] =
            Value::Undefined(absl::StrCat("parameter '", macro.params[k], "' was not provided"));
      }
    }
    frame->vars["varargs"] = Value::Tuple(std::move(varargs));
    frame->vars["kwargs"] = Value::Dict(std::move(kwargs));
    ++call_depth_;
    std::string out;
    auto flow = Exec(macro.bodies[0], frame, &out);
    --call_depth_;
    if (!flow.ok()) return flow.status();
    return Value::String(std::move(out));
  }

  // ---- expressions ----

  absl::StatusOr<Value> Eval(const Expr& e, const ScopePtr& scope) {
    auto v = EvalInner(e, scope);
    if (!v.ok()) return Locate(v.status(), e.line);
    return v;
  }

  absl::StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first, const ScopePtr& scope) {
    CallArgs args;
    for (size_t i = first; i < e.children.size(); ++i) {
      MOE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i], scope));
      args.positional.push_back(std::move(v));
    }
    for (const auto& [name, expr] : e.kwargs) {
      MOE_ASSIGN_OR_RETURN(Value v, Eval(*expr, scope));
      args.keyword.emplace_back(name, std::move(v));
    }
    return args;
  }

  absl::StatusOr<Value> EvalFilter(const Expr& e, const Value& input, const ScopePtr& scope) {
    MOE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
    return ApplyFilter(e.name, input, args);
  }

  absl::StatusOr<Value> EvalInner(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case ExprKind::kConst:
        return e.constant;
      case ExprKind::kName: {
        const Value* v = scope->Find(e.name);
        if (v == nullptr) return Value::Undefined(absl::StrCat("'", e.name, "' is undefined"));
        return *v;
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        ValueList items;
        for (const auto& child : e.children) {
          MOE_ASSIGN_OR_RETURN(Value v, Eval(*child, scope));
          items.push_back(std::move(v));
        }
        return e.kind == ExprKind::kList ? Value::List(std::move(items))
                                         : Value::Tuple(std::move(items));
      }
      case ExprKind::kDict: {
        ValueDict dict;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          MOE_ASSIGN_OR_RETURN(Value key, Eval(*e.children[i], scope));
          MOE_ASSIGN_OR_RETURN(Value value, Eval(*e.children[i + 1], scope));
          dict.Set(std::move(key), std::move(value));
        }
        return Value::Dict(std::move(dict));
      }
      case ExprKind::kAttr: {
        MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        return GetAttr(obj, e.name);
      }
      case ExprKind::kItem: {
        MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        MOE_ASSIGN_OR_RETURN(Value key, Eval(*e.children[1], scope));
        return GetItem(obj, key);
      }
      case ExprKind::kSlice: {
        MOE_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        Value parts[3] = {Value::None(), Value::None(), Value::None()};
        for (int k = 0; k < 3; ++k) {
          if (e.children[k + 1] != nullptr) {
            MOE_ASSIGN_OR_RETURN(parts[k], Eval(*e.children[k + 1], scope));
          }
        }
        return GetSlice(obj, parts[0], parts[1], parts[2]);
      }
      case ExprKind::kCall: {
        MOE_ASSIGN_OR_RETURN(Value callee, Eval(*e.children[0], scope));
        MOE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
        if (callee.kind() == Kind::kFunction) return callee.function()(args);
        if (callee.is_undefined()) return UndefinedError(callee);
        return absl::InvalidArgumentError(
            absl::StrCat("'", TypeName(callee), "' object is not callable"));
      }
      case ExprKind::kFilter: {
        MOE_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
        return EvalFilter(e, input, scope);
      }
      case ExprKind::kTest: {
        MOE_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
        MOE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
        MOE_ASSIGN_OR_RETURN(bool result, ApplyTest(e.name, input, args));
        return Value::Bool(result != e.negated);
      }
      case ExprKind::kNot: {
        MOE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
        return Value::Bool(!Truthy(v));
      }
      case ExprKind::kNeg:
      case ExprKind::kPos: {
        MOE_ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
        if (v.is_undefined()) return UndefinedError(v);
        if (!v.is_number()) {
          return absl::InvalidArgumentError(absl::StrCat("bad operand type for unary ",
                                                         e.kind == ExprKind::kNeg ? "-" : "+",
                                                         ": '", TypeName(v), "'"));
        }
        if (e.kind == ExprKind::kPos) {
          return v.kind() == Kind::kFloat ? v : Value::Int(v.int_value());
        }
        if (v.kind() == Kind::kFloat) return Value::Float(-v.float_value());
        if (v.int_value() == INT64_MIN) return absl::InvalidArgumentError("integer overflow");
        return Value::Int(-v.int_value());
      }
      case ExprKind::kBinary: {
        MOE_ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
        MOE_ASSIGN_OR_RETURN(Value b, Eval(*e.children[1], scope));
        return BinaryOp(e.name, a, b);
      }
      case ExprKind::kAnd:
      case ExprKind::kOr: {
        MOE_ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
        if (Truthy(a) == (e.kind == ExprKind::kOr)) return a;
        return Eval(*e.children[1], scope);
      }
      case ExprKind::kCompare: {
        MOE_ASSIGN_OR_RETURN(Value left, Eval(*e.children[0], scope));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          MOE_ASSIGN_OR_RETURN(Value right, Eval(*e.children[i + 1], scope));
          MOE_ASSIGN_OR_RETURN(bool ok, CompareOp(e.ops[i], left, right));
          if (!ok) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case ExprKind::kCondition: {
        MOE_ASSIGN_OR_RETURN(Value cond, Eval(*e.children[1], scope));
        if (Truthy(cond)) return Eval(*e.children[0], scope);
        if (e.children[2] == nullptr) return Value::Undefined("the inline if had no else branch");
        return Eval(*e.children[2], scope);
      }
    }
    return absl::InternalError("unknown expression");
  }

  int call_depth_ = 0;
  std::vector<ScopePtr> macro_scopes_;
  std::vector<Value> namespaces_;
};

}  // namespace

absl::StatusOr<std::string> RenderTemplate(const Body& body, const ValueDict& variables) {
  Renderer renderer;
  return renderer.Run(body, variables);
}

}  // namespace moe::chat
