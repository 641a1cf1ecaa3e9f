#include "coordinator/chat/parser.h"

#include <set>
#include <utility>

#include "coordinator/chat/builtins.h"
#include "coordinator/chat/lexer.h"

namespace moe::chat {
namespace {

using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;

constexpr int kMaxDepth = 200;

ExprPtr MakeExpr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

StmtPtr MakeStmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case TokenType::kText:
      return "template text";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "'%}'";
    case TokenType::kVarBegin:
      return "'{{'";
    case TokenType::kVarEnd:
      return "'}}'";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
    case TokenType::kFloat:
      return "number '" + t.value + "'";
    case TokenType::kName:
    case TokenType::kOperator:
      return "'" + t.value + "'";
    case TokenType::kEnd:
      return "end of template";
  }
  return "token";
}

// Tags of Jinja2 (and its extensions) that this interpreter does not implement.
const std::set<std::string>& UnsupportedTags() {
  static const auto* tags = new std::set<std::string>{
      "include",  "extends",    "import",  "from",          "block",     "filter",
      "call",     "autoescape", "do",      "trans",         "pluralize", "debug",
      "endblock", "endfilter",  "endcall", "endautoescape", "endtrans"};
  return *tags;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<Body> ParseAll() {
    std::string end_tag;
    MOE_ASSIGN_OR_RETURN(Body body, ParseBody({}, "", 0, &end_tag));
    return body;
  }

 private:
  // RAII nesting counter that keeps hostile templates from exhausting the stack.
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    bool too_deep() const { return *depth_ > kMaxDepth; }

   private:
    int* depth_;
  };

  const Token& Peek(size_t k = 0) const {
    size_t i = std::min(pos_ + k, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  static bool IsOp(const Token& t, std::string_view op) {
    return t.type == TokenType::kOperator && t.value == op;
  }
  static bool IsName(const Token& t, std::string_view name) {
    return t.type == TokenType::kName && t.value == name;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(Peek(), op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(Peek(), name)) return false;
    Next();
    return true;
  }

  static absl::Status ErrorAt(const Token& t, const std::string& message) {
    return SyntaxError(t.line, t.column, message);
  }
  absl::Status Unexpected(const std::string& expected) const {
    return ErrorAt(Peek(), absl::StrCat("expected ", expected, ", got ", Describe(Peek())));
  }
  absl::Status ExpectOp(const std::string& op) {
    if (!SkipOp(op)) return Unexpected(absl::StrCat("'", op, "'"));
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().type != TokenType::kBlockEnd) return Unexpected("end of statement block '%}'");
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().type != TokenType::kName) return Unexpected("a name");
    return Next().value;
  }

  // ---- statements ----

  // Parses until a `{% tag` with tag in `end_tags` (consumed up to the tag name, which goes to
  // *end_tag). At top level (`end_tags` empty) the end of the template ends the body.
  absl::StatusOr<Body> ParseBody(const std::set<std::string>& end_tags, const std::string& opener,
                                 int opener_line, std::string* end_tag) {
    DepthGuard guard(&depth_);
    if (guard.too_deep()) return ErrorAt(Peek(), "blocks nested too deeply");
    Body body;
    while (true) {
      const Token& t = Peek();
      if (t.type == TokenType::kEnd) {
        if (end_tags.empty()) return body;
        return ErrorAt(t, absl::StrCat("unexpected end of template: the '", opener,
                                       "' block opened at line ", opener_line,
                                       " was never closed (expected '", *end_tags.rbegin(), "')"));
      }
      if (t.type == TokenType::kText) {
        auto s = MakeStmt(StmtKind::kText, t.line);
        s->text = Next().value;
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kVarBegin) {
        Next();
        auto s = MakeStmt(StmtKind::kOutput, t.line);
        MOE_ASSIGN_OR_RETURN(s->expr, ParseTuple(true, {}, false));
        if (Peek().type != TokenType::kVarEnd) return Unexpected("end of print statement '}}'");
        Next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kBlockBegin) {
        const Token& name = Peek(1);
        if (name.type == TokenType::kName && end_tags.count(name.value) > 0) {
          Next();
          *end_tag = Next().value;
          return body;
        }
        Next();
        MOE_ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
        body.push_back(std::move(s));
      } else {
        return ErrorAt(t, absl::StrCat("unexpected ", Describe(t)));
      }
    }
  }

  absl::StatusOr<StmtPtr> ParseStatement() {
    const Token& t = Peek();
    if (t.type != TokenType::kName) return ErrorAt(t, "tag name expected");
    std::string tag = t.value;
    if (tag == "if") return ParseIf();
    if (tag == "for") return ParseFor();
    if (tag == "set") return ParseSet();
    if (tag == "macro") return ParseMacro();
    if (tag == "with") return ParseWith();
    if (tag == "print") {
      Next();
      auto s = MakeStmt(StmtKind::kOutput, t.line);
      MOE_ASSIGN_OR_RETURN(s->expr, ParseTuple(true, {}, false));
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return ErrorAt(t, absl::StrCat("'", tag, "' outside of a loop"));
      Next();
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      return MakeStmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, t.line);
    }
    if (tag == "generation") {  // transformers' AssistantTracker: renders its body in place
      Next();
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      auto s = MakeStmt(StmtKind::kBlock, t.line);
      std::string end;
      MOE_ASSIGN_OR_RETURN(Body body, ParseBody({"endgeneration"}, tag, t.line, &end));
      s->bodies.push_back(std::move(body));
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (UnsupportedTags().count(tag) > 0) {
      return ErrorAt(t, absl::StrCat("unsupported tag '", tag, "'"));
    }
    return ErrorAt(t, absl::StrCat("unknown or unexpected tag '", tag, "'"));
  }

  absl::StatusOr<StmtPtr> ParseIf() {
    const Token& tag = Next();
    auto s = MakeStmt(StmtKind::kIf, tag.line);
    while (true) {
      MOE_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(false, {}, false));
      s->conditions.push_back(std::move(cond));
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      std::string end;
      MOE_ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}, "if", tag.line, &end));
      s->bodies.push_back(std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        MOE_RETURN_IF_ERROR(ExpectBlockEnd());
        MOE_ASSIGN_OR_RETURN(Body else_body, ParseBody({"endif"}, "if", tag.line, &end));
        s->bodies.push_back(std::move(else_body));
      }
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
  }

  // Names of an assignment target: `a` or `a, b` or `(a, b)`.
  absl::Status ParseTargets(std::vector<std::string>* names, bool* is_tuple) {
    bool paren = SkipOp("(");
    while (true) {
      MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
      names->push_back(name);
      if (!SkipOp(",")) break;
      *is_tuple = true;
      if (Peek().type != TokenType::kName) break;  // trailing comma
    }
    if (paren) {
      *is_tuple = true;
      MOE_RETURN_IF_ERROR(ExpectOp(")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StmtPtr> ParseFor() {
    const Token& tag = Next();
    auto s = MakeStmt(StmtKind::kFor, tag.line);
    MOE_RETURN_IF_ERROR(ParseTargets(&s->targets, &s->tuple_target));
    if (!SkipName("in")) return Unexpected("'in'");
    MOE_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, {"if", "recursive"}, false));
    if (SkipName("if")) {
      MOE_ASSIGN_OR_RETURN(s->filter, ParseExpression(true));
    }
    if (IsName(Peek(), "recursive")) return ErrorAt(Peek(), "unsupported recursive loop");
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    ++loop_depth_;
    auto body = ParseBody({"endfor", "else"}, "for", tag.line, &end);
    --loop_depth_;
    if (!body.ok()) return body.status();
    s->bodies.push_back(std::move(body).value());
    if (end == "else") {
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      MOE_ASSIGN_OR_RETURN(Body else_body, ParseBody({"endfor"}, "for", tag.line, &end));
      s->bodies.push_back(std::move(else_body));
    }
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }

  absl::StatusOr<StmtPtr> ParseSet() {
    const Token& tag = Next();
    auto s = MakeStmt(StmtKind::kSet, tag.line);
    if (Peek().type == TokenType::kName && IsOp(Peek(1), ".")) {
      s->targets.push_back(Next().value);
      Next();
      MOE_ASSIGN_OR_RETURN(s->attribute, ExpectName());
    } else {
      MOE_RETURN_IF_ERROR(ParseTargets(&s->targets, &s->tuple_target));
    }
    if (SkipOp("=")) {
      MOE_ASSIGN_OR_RETURN(s->expr, ParseTuple(true, {}, false));
      MOE_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (s->targets.size() != 1 || !s->attribute.empty()) {
      return Unexpected("'='");
    }
    s->kind = StmtKind::kSetBlock;
    while (IsOp(Peek(), "|")) {
      MOE_ASSIGN_OR_RETURN(ExprPtr filter, ParseFilter(nullptr));
      s->filters.push_back(std::move(filter));
    }
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    MOE_ASSIGN_OR_RETURN(Body body, ParseBody({"endset"}, "set", tag.line, &end));
    s->bodies.push_back(std::move(body));
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }

  absl::StatusOr<StmtPtr> ParseMacro() {
    const Token& tag = Next();
    auto s = MakeStmt(StmtKind::kMacro, tag.line);
    MOE_ASSIGN_OR_RETURN(s->name, ExpectName());
    MOE_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(Peek(), ")")) {
      if (!s->params.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(Peek(), ")")) break;
      const Token& param = Peek();
      MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
      ExprPtr def;
      if (SkipOp("=")) {
        MOE_ASSIGN_OR_RETURN(def, ParseExpression(true));
      } else if (!s->defaults.empty() && s->defaults.back() != nullptr) {
        return ErrorAt(param, "non-default argument follows default argument");
      }
      s->params.push_back(name);
      s->defaults.push_back(std::move(def));
    }
    Next();
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    auto body = ParseBody({"endmacro"}, "macro", tag.line, &end);
    loop_depth_ = saved_loop_depth;
    if (!body.ok()) return body.status();
    s->bodies.push_back(std::move(body).value());
    if (Peek().type == TokenType::kName) Next();  // {% endmacro name %}
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }

  absl::StatusOr<StmtPtr> ParseWith() {
    const Token& tag = Next();
    auto s = MakeStmt(StmtKind::kWith, tag.line);
    while (Peek().type != TokenType::kBlockEnd) {
      if (!s->targets.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
      MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
      MOE_RETURN_IF_ERROR(ExpectOp("="));
      MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      s->targets.push_back(name);
      s->values.push_back(std::move(value));
    }
    Next();
    std::string end;
    MOE_ASSIGN_OR_RETURN(Body body, ParseBody({"endwith"}, "with", tag.line, &end));
    s->bodies.push_back(std::move(body));
    MOE_RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }

  // ---- expressions (precedence as in jinja2/parser.py) ----

  bool IsTupleEnd(const std::set<std::string>& extra_end_names) const {
    const Token& t = Peek();
    if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd || IsOp(t, ")")) {
      return true;
    }
    return t.type == TokenType::kName && extra_end_names.count(t.value) > 0;
  }

  // Comma-separated expressions; a tuple when there is a comma (or `()` in parentheses).
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condexpr, const std::set<std::string>& extra_end,
                                     bool explicit_parentheses) {
    int line = Peek().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end)) break;
      MOE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      items.push_back(std::move(item));
      if (IsOp(Peek(), ",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) return Unexpected("an expression");
    }
    auto tuple = MakeExpr(ExprKind::kTuple, line);
    tuple->children = std::move(items);
    return tuple;
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    DepthGuard guard(&depth_);
    if (guard.too_deep()) return ErrorAt(Peek(), "expression nested too deeply");
    if (!with_condexpr) return ParseOr();
    int line = Peek().line;
    MOE_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (SkipName("if")) {
      auto cond = MakeExpr(ExprKind::kCondition, line);
      MOE_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
      ExprPtr otherwise;
      if (SkipName("else")) {
        MOE_ASSIGN_OR_RETURN(otherwise, ParseExpression(true));
      }
      cond->children.push_back(std::move(expr));
      cond->children.push_back(std::move(test));
      cond->children.push_back(std::move(otherwise));
      expr = std::move(cond);
      line = Peek().line;
    }
    return expr;
  }

  static ExprPtr Binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = MakeExpr(kind, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName(Peek(), "or")) {
      int line = Next().line;
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = Binary(ExprKind::kOr, "or", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName(Peek(), "and")) {
      int line = Next().line;
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left = Binary(ExprKind::kAnd, "and", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName(Peek(), "not")) {
      DepthGuard guard(&depth_);
      if (guard.too_deep()) return ErrorAt(Peek(), "expression nested too deeply");
      int line = Next().line;
      auto e = MakeExpr(ExprKind::kNot, line);
      MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      e->children.push_back(std::move(operand));
      return e;
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    int line = Peek().line;
    MOE_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    auto cmp = MakeExpr(ExprKind::kCompare, line);
    cmp->children.push_back(std::move(first));
    while (true) {
      const Token& t = Peek();
      std::string op;
      if (t.type == TokenType::kOperator &&
          (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == "<=" ||
           t.value == ">" || t.value == ">=")) {
        op = Next().value;
      } else if (IsName(t, "in")) {
        Next();
        op = "in";
      } else if (IsName(t, "not") && IsName(Peek(1), "in")) {
        Next();
        Next();
        op = "notin";
      } else {
        break;
      }
      MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      cmp->ops.push_back(op);
      cmp->children.push_back(std::move(operand));
    }
    if (cmp->ops.empty()) return std::move(cmp->children[0]);
    return cmp;
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp(Peek(), "+") || IsOp(Peek(), "-")) {
      const Token& op = Next();
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
      left = Binary(ExprKind::kBinary, op.value, std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
    while (IsOp(Peek(), "~")) {
      const Token& op = Next();
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
      left = Binary(ExprKind::kBinary, "~", std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (IsOp(Peek(), "*") || IsOp(Peek(), "/") || IsOp(Peek(), "//") || IsOp(Peek(), "%")) {
      const Token& op = Next();
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
      left = Binary(ExprKind::kBinary, op.value, std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp(Peek(), "**")) {
      const Token& op = Next();
      MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
      left = Binary(ExprKind::kBinary, "**", std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(&depth_);
    if (guard.too_deep()) return ErrorAt(Peek(), "expression nested too deeply");
    ExprPtr node;
    if (IsOp(Peek(), "-") || IsOp(Peek(), "+")) {
      const Token& op = Next();
      node = MakeExpr(op.value == "-" ? ExprKind::kNeg : ExprKind::kPos, op.line);
      MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node->children.push_back(std::move(operand));
    } else {
      MOE_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    MOE_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      MOE_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    if (t.type == TokenType::kName) {
      Next();
      if (t.value == "true" || t.value == "True" || t.value == "false" || t.value == "False") {
        auto e = MakeExpr(ExprKind::kConst, t.line);
        e->constant = Value::Bool(t.value == "true" || t.value == "True");
        return e;
      }
      if (t.value == "none" || t.value == "None") {
        auto e = MakeExpr(ExprKind::kConst, t.line);
        e->constant = Value::None();
        return e;
      }
      auto e = MakeExpr(ExprKind::kName, t.line);
      e->name = t.value;
      return e;
    }
    if (t.type == TokenType::kString) {
      auto e = MakeExpr(ExprKind::kConst, t.line);
      std::string text;
      while (Peek().type == TokenType::kString) text += Next().value;  // 'a' 'b' == 'ab'
      e->constant = Value::String(std::move(text));
      return e;
    }
    if (t.type == TokenType::kInteger || t.type == TokenType::kFloat) {
      Next();
      auto e = MakeExpr(ExprKind::kConst, t.line);
      e->constant =
          t.type == TokenType::kInteger ? Value::Int(t.int_value) : Value::Float(t.float_value);
      return e;
    }
    if (IsOp(t, "(")) {
      Next();
      MOE_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, true));
      MOE_RETURN_IF_ERROR(ExpectOp(")"));
      return e;
    }
    if (IsOp(t, "[")) {
      Next();
      auto e = MakeExpr(ExprKind::kList, t.line);
      while (!IsOp(Peek(), "]")) {
        if (!e->children.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Peek(), "]")) break;
        MOE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
        e->children.push_back(std::move(item));
      }
      Next();
      return e;
    }
    if (IsOp(t, "{")) {
      Next();
      auto e = MakeExpr(ExprKind::kDict, t.line);
      while (!IsOp(Peek(), "}")) {
        if (!e->children.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Peek(), "}")) break;
        MOE_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
        MOE_RETURN_IF_ERROR(ExpectOp(":"));
        MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->children.push_back(std::move(key));
        e->children.push_back(std::move(value));
      }
      Next();
      return e;
    }
    return ErrorAt(t, absl::StrCat("unexpected ", Describe(t)));
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      const Token& t = Peek();
      if (IsOp(t, ".")) {
        Next();
        const Token& attr = Peek();
        if (attr.type == TokenType::kName) {
          Next();
          auto e = MakeExpr(ExprKind::kAttr, t.line);
          e->name = attr.value;
          e->children.push_back(std::move(node));
          node = std::move(e);
        } else if (attr.type == TokenType::kInteger) {
          Next();
          auto e = MakeExpr(ExprKind::kItem, t.line);
          auto key = MakeExpr(ExprKind::kConst, attr.line);
          key->constant = Value::Int(attr.int_value);
          e->children.push_back(std::move(node));
          e->children.push_back(std::move(key));
          node = std::move(e);
        } else {
          return Unexpected("a name or number after '.'");
        }
      } else if (IsOp(t, "[")) {
        Next();
        MOE_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), t.line));
      } else if (IsOp(t, "(")) {
        MOE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // After '[': an index, a tuple of indexes, or a slice a:b:c.
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node, int line) {
    std::vector<ExprPtr> parts;  // start, stop, step
    bool is_slice = false;
    std::vector<ExprPtr> keys;
    while (!IsOp(Peek(), "]")) {
      if (!keys.empty() || is_slice) {
        if (is_slice) return Unexpected("']'");
        MOE_RETURN_IF_ERROR(ExpectOp(","));
      }
      ExprPtr first;
      if (!IsOp(Peek(), ":")) {
        MOE_ASSIGN_OR_RETURN(first, ParseExpression(true));
      }
      if (!IsOp(Peek(), ":")) {
        keys.push_back(std::move(first));
        continue;
      }
      if (!keys.empty()) return ErrorAt(Peek(), "unsupported slice inside a tuple subscript");
      is_slice = true;
      parts.push_back(std::move(first));
      for (int k = 0; k < 2; ++k) {
        if (!SkipOp(":")) {
          parts.push_back(nullptr);
          continue;
        }
        ExprPtr part;
        if (!IsOp(Peek(), "]") && !IsOp(Peek(), ":") && !IsOp(Peek(), ",")) {
          MOE_ASSIGN_OR_RETURN(part, ParseExpression(true));
        }
        parts.push_back(std::move(part));
      }
    }
    Next();
    if (is_slice) {
      auto e = MakeExpr(ExprKind::kSlice, line);
      e->children.push_back(std::move(node));
      for (auto& part : parts) e->children.push_back(std::move(part));
      return e;
    }
    if (keys.empty()) return ErrorAt(Peek(), "expected a subscript inside '[]'");
    auto e = MakeExpr(ExprKind::kItem, line);
    e->children.push_back(std::move(node));
    if (keys.size() == 1) {
      e->children.push_back(std::move(keys[0]));
    } else {
      auto tuple = MakeExpr(ExprKind::kTuple, line);
      tuple->children = std::move(keys);
      e->children.push_back(std::move(tuple));
    }
    return e;
  }

  // Parses "(args, name=value)" into e->children (after those already there) and e->kwargs.
  absl::Status ParseCallArgs(Expr* e) {
    MOE_RETURN_IF_ERROR(ExpectOp("("));
    bool first = true;
    while (!IsOp(Peek(), ")")) {
      if (!first) {
        MOE_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Peek(), ")")) break;
      }
      first = false;
      if (IsOp(Peek(), "*") || IsOp(Peek(), "**")) {
        return ErrorAt(Peek(), "unsupported *args / **kwargs in a call");
      }
      if (Peek().type == TokenType::kName && IsOp(Peek(1), "=")) {
        std::string name = Next().value;
        Next();
        MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->kwargs.emplace_back(std::move(name), std::move(value));
      } else {
        if (!e->kwargs.empty()) {
          return ErrorAt(Peek(), "positional argument follows keyword argument");
        }
        MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->children.push_back(std::move(value));
      }
    }
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    auto e = MakeExpr(ExprKind::kCall, Peek().line);
    e->children.push_back(std::move(callee));
    MOE_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    return e;
  }

  absl::StatusOr<std::string> ParseDottedName() {
    MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
    while (IsOp(Peek(), ".")) {
      Next();
      MOE_ASSIGN_OR_RETURN(std::string part, ExpectName());
      name += "." + part;
    }
    return name;
  }

  // `| name` or `| name(args)` applied to `input` (null for {% set %} blocks).
  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr input) {
    MOE_RETURN_IF_ERROR(ExpectOp("|"));
    const Token& name_token = Peek();
    MOE_ASSIGN_OR_RETURN(std::string name, ParseDottedName());
    if (!IsKnownFilter(name)) {
      return ErrorAt(name_token, absl::StrCat("unknown filter '", name, "'"));
    }
    auto e = MakeExpr(ExprKind::kFilter, name_token.line);
    e->name = name;
    e->children.push_back(std::move(input));
    if (IsOp(Peek(), "(")) MOE_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    return e;
  }

  absl::StatusOr<ExprPtr> ParseTest(ExprPtr input) {
    const Token& is = Next();
    bool negated = SkipName("not");
    const Token& name_token = Peek();
    MOE_ASSIGN_OR_RETURN(std::string name, ParseDottedName());
    if (!IsKnownTest(name)) {
      return ErrorAt(name_token, absl::StrCat("unknown test '", name, "'"));
    }
    auto e = MakeExpr(ExprKind::kTest, is.line);
    e->name = name;
    e->negated = negated;
    e->children.push_back(std::move(input));
    const Token& t = Peek();
    if (IsOp(t, "(")) {
      MOE_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString ||
                t.type == TokenType::kInteger || t.type == TokenType::kFloat || IsOp(t, "[") ||
                IsOp(t, "{")) &&
               !IsName(t, "else") && !IsName(t, "or") && !IsName(t, "and")) {
      if (IsName(t, "is")) return ErrorAt(t, "you cannot chain multiple tests with 'is'");
      MOE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      MOE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      e->children.push_back(std::move(arg));
    }
    return e;
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp(Peek(), "|")) {
        MOE_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node)));
      } else if (IsName(Peek(), "is")) {
        MOE_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp(Peek(), "(")) {
        MOE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<Body> ParseTemplate(std::string_view source) {
  MOE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source));
  Parser parser(std::move(tokens));
  return parser.ParseAll();
}

}  // namespace moe::chat
