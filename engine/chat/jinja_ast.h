// The syntax tree of a Jinja template, as jinja_parser.cc builds it and jinja_template.cc runs it.
// The subset chat templates use: text, {{ expressions }}, if/elif/else, for (with else, loop
// filters, tuple targets, break/continue), set (names, namespace attributes, tuples, blocks),
// macros, filter blocks; expressions with Python's operators, literals, attribute and item
// access, slices, calls with keyword arguments, filters and tests.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace favor::chat {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,      // literal
    kName,         // name
    kList,         // children
    kTuple,        // children
    kDict,         // children: key, value, key, value...
    kAttribute,    // children[0].name
    kIndex,        // children[0][children[1]]
    kSlice,        // children[0][children[1]:children[2]:children[3]], any of the three null
    kCall,         // children[0](children[1...], keywords)
    kFilter,       // children[0] | name(children[1...], keywords); children[0] null in a block
    kTest,         // children[0] is [not] name(children[1...])
    kUnary,        // name ("not", "-", "+") children[0]
    kBinary,       // children[0] name children[1]
    kConditional,  // children[0] if children[1] else children[2] (null: undefined)
  };
  Kind kind = Kind::kLiteral;
  int line = 0;
  Value literal;
  std::string name;
  bool negated = false;  // kTest: "is not".
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches: (condition, body); the else branch has a null condition
    kFor,          // for target in expr [if condition]: body [else else_body]
    kSet,          // set target = expr
    kSetBlock,     // set target: body rendered
    kMacro,        // macro name(parameters): body
    kFilterBlock,  // filter expr (a kFilter without operand): body
    kBreak,
    kContinue,
  };
  Kind kind = Kind::kText;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr target;  // kFor, kSet, kSetBlock: a kName, kTuple of names, or kAttribute.
  ExprPtr condition;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> parameters;  // Defaults may be null.
};

// Parses `source` as Hugging Face renders chat templates: trim_blocks and lstrip_blocks on, a
// single trailing newline dropped. Errors name the line and the construct.
absl::StatusOr<Body> ParseTemplate(const std::string& source);

}  // namespace favor::chat
