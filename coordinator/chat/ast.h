// Syntax tree of the chat-template interpreter (built by parser.h, run by evaluator.h).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/chat/value.h"

namespace moe::chat {

enum class ExprKind {
  kConst,      // constant
  kName,       // name
  kList,       // [children...]
  kTuple,      // (children...)
  kDict,       // {children[0]: children[1], children[2]: children[3], ...}
  kAttr,       // children[0].name
  kItem,       // children[0][children[1]]
  kSlice,      // children[0][children[1]:children[2]:children[3]] (null parts omitted)
  kCall,       // children[0](children[1..], kwargs)
  kFilter,     // children[0] | name(children[1..], kwargs); children[0] null in {% set %} blocks
  kTest,       // children[0] is [not] name(children[1..], kwargs)
  kNot,        // not children[0]
  kNeg,        // -children[0]
  kPos,        // +children[0]
  kBinary,     // children[0] op children[1]; op one of + - * / // % ** ~
  kAnd,        // children[0] and children[1]
  kOr,         // children[0] or children[1]
  kCompare,    // children[0] ops[0] children[1] ops[1] ...; ops == != < <= > >= in notin
  kCondition,  // children[0] if children[1] else children[2] (null: undefined)
};

struct Expr {
  ExprKind kind = ExprKind::kConst;
  int line = 0;
  Value constant;    // kConst
  std::string name;  // kName, kAttr, kFilter, kTest, kBinary (the operator)
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::string> ops;                                       // kCompare
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;  // kCall, kFilter, kTest
  bool negated = false;                                               // kTest: `is not`
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

enum class StmtKind {
  kText,      // text
  kOutput,    // {{ expr }}
  kIf,        // conditions[i] guards bodies[i]; a final extra body is the else branch
  kFor,       // for targets in expr [if filter]: bodies[0], else bodies[1] (when present)
  kSet,       // set targets = expr, or set targets[0].attribute = expr
  kSetBlock,  // set targets[0] [| filters] %} bodies[0] {% endset
  kMacro,     // macro name(params = defaults): bodies[0]
  kWith,      // with targets[i] = values[i]: bodies[0]
  kBreak,
  kContinue,
  kBlock,  // bodies[0] rendered in place ({% generation %})
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  std::string text;                               // kText
  std::unique_ptr<Expr> expr;                     // kOutput, kFor (iterable), kSet (value)
  std::vector<std::unique_ptr<Expr>> conditions;  // kIf
  std::vector<Body> bodies;
  std::vector<std::string> targets;             // kFor, kSet, kSetBlock, kWith
  bool tuple_target = false;                    // kFor/kSet: `a, b` unpacking (even with one name)
  std::string attribute;                        // kSet on a namespace attribute
  std::unique_ptr<Expr> filter;                 // kFor: loop filter
  std::vector<std::unique_ptr<Expr>> filters;   // kSetBlock: kFilter nodes with null input
  std::vector<std::unique_ptr<Expr>> values;    // kWith
  std::string name;                             // kMacro
  std::vector<std::string> params;              // kMacro
  std::vector<std::unique_ptr<Expr>> defaults;  // kMacro: one per param, null when none
};

}  // namespace moe::chat
