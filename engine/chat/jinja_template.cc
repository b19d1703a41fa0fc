#include "engine/chat/jinja_template.h"

#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_builtins.h"
#include "engine/core/status.h"

namespace favor::chat {
namespace {

// Bounds that keep a hostile template (it comes from a model file) from hanging or exhausting
// memory: output size, loop iterations, macro nesting.
constexpr size_t kMaxOutputBytes = kMaxStringBytes;
constexpr int64_t kMaxIterations = 1'000'000;
constexpr int kMaxCallDepth = 64;

// Variables of one scope; lookups walk to the enclosing ones (a for loop's body, a macro call).
struct Scope {
  std::shared_ptr<Scope> parent;
  Dict variables;

  const Value* Find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
      if (const Value* v = s->variables.Find(name)) return v;
    }
    return nullptr;
  }
};

enum class Flow { kNormal, kBreak, kContinue };

absl::Status Error(int line, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("chat template line ", line, ": ", message));
}

// Python's index into a sequence of `size`, negative from the end; false if out of range.
bool ResolveIndex(int64_t index, size_t size, size_t& out) {
  const auto n = static_cast<int64_t>(size);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return false;
  out = static_cast<size_t>(index);
  return true;
}

// Python's slice indices [start:stop:step] over `size` elements.
std::vector<size_t> SliceIndices(const Value& start, const Value& stop, const Value& step,
                                 size_t size) {
  const auto n = static_cast<int64_t>(size);
  const int64_t s = step.is_int() ? step.integer() : 1;
  std::vector<size_t> out;
  if (s == 0) return out;
  const auto clamp = [&](const Value& v, int64_t fallback, int64_t low, int64_t high) {
    if (!v.is_int()) return fallback;
    int64_t i = v.integer();
    if (i < 0) i += n;
    return std::min(std::max(i, low), high);
  };
  if (s > 0) {
    const int64_t begin = clamp(start, 0, 0, n), end = clamp(stop, n, 0, n);
    for (int64_t i = begin; i < end; i += s) out.push_back(static_cast<size_t>(i));
  } else {
    const int64_t begin = clamp(start, n - 1, -1, n - 1), end = clamp(stop, -1, -1, n - 1);
    for (int64_t i = begin; i > end; i += s) out.push_back(static_cast<size_t>(i));
  }
  return out;
}

class Renderer {
 public:
  absl::Status Render(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out) {
    FAVOR_ASSIGN_OR_RETURN(const Flow flow, RenderBody(body, scope, out));
    (void)flow;
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<Flow> RenderBody(const Body& body, const std::shared_ptr<Scope>& scope,
                                  std::string& out) {
    for (const NodePtr& node : body) {
      FAVOR_ASSIGN_OR_RETURN(const Flow flow, RenderNode(*node, scope, out));
      if (flow != Flow::kNormal) return flow;
      if (out.size() > kMaxOutputBytes) {
        return Error(node->line, "the output exceeds 64 MiB");
      }
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> RenderNode(const Node& node, const std::shared_ptr<Scope>& scope,
                                  std::string& out) {
    switch (node.kind) {
      case Node::Kind::kText:
        out += node.text;
        return Flow::kNormal;
      case Node::Kind::kOutput: {
        FAVOR_ASSIGN_OR_RETURN(const Value v, Eval(*node.expr, *scope));
        out += v.Str();
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (const auto& [condition, branch] : node.branches) {
          bool taken = condition == nullptr;
          if (!taken) {
            FAVOR_ASSIGN_OR_RETURN(const Value v, Eval(*condition, *scope));
            taken = v.Truthy();
          }
          if (taken) return RenderBody(branch, scope, out);
        }
        return Flow::kNormal;
      case Node::Kind::kFor:
        FAVOR_RETURN_IF_ERROR(RenderFor(node, scope, out));
        return Flow::kNormal;
      case Node::Kind::kSet: {
        FAVOR_ASSIGN_OR_RETURN(const Value v, Eval(*node.expr, *scope));
        FAVOR_RETURN_IF_ERROR(Assign(*node.target, v, *scope));
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        FAVOR_RETURN_IF_ERROR(Render(node.body, scope, captured));
        FAVOR_ASSIGN_OR_RETURN(const Value block, Charged(Value(std::move(captured)), node.line));
        FAVOR_RETURN_IF_ERROR(Assign(*node.target, block, *scope));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope->variables.Set(node.name, MakeMacro(node, scope));
        return Flow::kNormal;
      case Node::Kind::kFilterBlock: {
        std::string captured;
        FAVOR_RETURN_IF_ERROR(Render(node.body, scope, captured));
        FAVOR_ASSIGN_OR_RETURN(const Value v,
                               EvalFilter(*node.expr, Value(std::move(captured)), *scope));
        out += v.Str();
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  absl::Status RenderFor(const Node& node, const std::shared_ptr<Scope>& scope, std::string& out) {
    FAVOR_ASSIGN_OR_RETURN(const Value iterable, Eval(*node.expr, *scope));
    List items;
    if (iterable.is_list()) {
      items = iterable.list();
    } else if (iterable.is_dict()) {
      for (const auto& [key, value] : iterable.dict().entries()) items.emplace_back(key);
    } else if (iterable.is_string()) {
      auto pieces = CodePoints(iterable.string());
      if (!pieces.ok()) return Error(node.line, std::string(pieces.status().message()));
      for (std::string& c : *pieces) items.emplace_back(std::move(c));
    } else if (!iterable.is_undefined() && !iterable.is_none()) {
      return Error(node.line, absl::StrCat("'", iterable.TypeName(), "' is not iterable"));
    }
    // The loop's filter picks the items first, so loop.index and loop.last count those.
    if (node.condition != nullptr) {
      List kept;
      for (const Value& item : items) {
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        FAVOR_RETURN_IF_ERROR(Assign(*node.target, item, *probe));
        FAVOR_ASSIGN_OR_RETURN(const Value keep, Eval(*node.condition, *probe));
        if (keep.Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return Render(node.else_body, scope, out);
    // One loop object whose fields change per iteration, as jinja2's LoopContext.
    const auto n = static_cast<int64_t>(items.size());
    auto index = std::make_shared<int64_t>(0);
    Dict fields;
    for (const char* name : {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                             "previtem", "nextitem"}) {
      fields.Set(name, Value());
    }
    fields.Set("cycle", Value::MakeFunction([index](CallArguments& args) -> absl::StatusOr<Value> {
                 if (args.positional.empty()) return absl::InvalidArgumentError("loop.cycle()");
                 return args.positional[static_cast<size_t>(*index) % args.positional.size()];
               }));
    const Value loop(std::move(fields));
    for (int64_t i = 0; i < n; ++i) {
      if (++iterations_ > kMaxIterations) return Error(node.line, "too many loop iterations");
      *index = i;
      auto& entries = loop.dict().mutable_entries();
      entries[0].second = Value(i + 1);
      entries[1].second = Value(i);
      entries[2].second = Value(n - i);
      entries[3].second = Value(n - i - 1);
      entries[4].second = Value(i == 0);
      entries[5].second = Value(i == n - 1);
      entries[6].second = Value(n);
      entries[7].second =
          i > 0 ? items[static_cast<size_t>(i - 1)] : Value::MakeUndefined("previtem");
      entries[8].second =
          i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::MakeUndefined("nextitem");
      auto body = std::make_shared<Scope>();
      body->parent = scope;
      FAVOR_RETURN_IF_ERROR(Assign(*node.target, items[static_cast<size_t>(i)], *body));
      body->variables.Set("loop", loop);
      FAVOR_ASSIGN_OR_RETURN(const Flow flow, RenderBody(node.body, body, out));
      if (flow == Flow::kBreak) break;
    }
    return absl::OkStatus();
  }

  Value MakeMacro(const Node& node, const std::shared_ptr<Scope>& scope_of_definition) {
    const Node* macro = &node;
    // The scope the macro is defined in holds the macro: a weak reference back, or the two would
    // keep each other alive.
    std::weak_ptr<Scope> weak_scope = scope_of_definition;
    return Value::MakeFunction(
        [this, macro, weak_scope](CallArguments& args) -> absl::StatusOr<Value> {
          const std::shared_ptr<Scope> defined_in = weak_scope.lock();
          if (defined_in == nullptr) return Error(macro->line, "the macro's scope has ended");
          if (++depth_ > kMaxCallDepth) {
            --depth_;
            return Error(macro->line, "macros nest too deeply");
          }
          auto scope = std::make_shared<Scope>();
          scope->parent = defined_in;
          for (size_t p = 0; p < macro->parameters.size(); ++p) {
            const auto& [name, fallback] = macro->parameters[p];
            Value v = args.Get(p, name);
            if (v.is_undefined() && fallback != nullptr) {
              auto evaluated = Eval(*fallback, *scope);
              if (!evaluated.ok()) {
                --depth_;
                return evaluated.status();
              }
              v = *evaluated;
            }
            scope->variables.Set(name, v);
          }
          std::string out;
          const absl::Status status = Render(macro->body, scope, out);
          --depth_;
          if (!status.ok()) return status;
          return Value(std::move(out));
        });
  }

  absl::Status Assign(const Expr& target, const Value& v, Scope& scope) {
    switch (target.kind) {
      case Expr::Kind::kName:
        scope.variables.Set(target.name, v);
        return absl::OkStatus();
      case Expr::Kind::kTuple: {
        if (!v.is_list() || v.list().size() != target.children.size()) {
          return Error(target.line, absl::StrCat("cannot unpack ", v.Repr(), " into ",
                                                 target.children.size(), " names"));
        }
        for (size_t i = 0; i < target.children.size(); ++i) {
          FAVOR_RETURN_IF_ERROR(Assign(*target.children[i], v.list()[i], scope));
        }
        return absl::OkStatus();
      }
      case Expr::Kind::kAttribute: {
        FAVOR_ASSIGN_OR_RETURN(const Value object, Eval(*target.children[0], scope));
        if (!object.is_dict()) {
          return Error(target.line, absl::StrCat("cannot set '", target.name, "' on a ",
                                                 object.TypeName(), " (use a namespace)"));
        }
        if (v.Holds(&object.dict())) {
          return Error(
              target.line,
              absl::StrCat("'", target.name,
                           "' would make a dict hold itself (or nest it deeper than 100)"));
        }
        object.dict().Set(target.name, v);
        return absl::OkStatus();
      }
      default:
        return Error(target.line, "cannot assign to this expression");
    }
  }

  absl::StatusOr<Value> Eval(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName: {
        const Value* v = scope.Find(e.name);
        return v != nullptr ? *v : Value::MakeUndefined(e.name);
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List list;
        for (const ExprPtr& child : e.children) {
          FAVOR_ASSIGN_OR_RETURN(Value v, Eval(*child, scope));
          list.push_back(std::move(v));
        }
        return Charged(Value(std::move(list)), e.line);
      }
      case Expr::Kind::kDict: {
        Dict dict;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          FAVOR_ASSIGN_OR_RETURN(const Value key, Eval(*e.children[i], scope));
          FAVOR_ASSIGN_OR_RETURN(Value value, Eval(*e.children[i + 1], scope));
          if (!key.is_string()) return Error(e.line, "dict keys must be strings");
          dict.Set(key.string(), std::move(value));
        }
        return Charged(Value(std::move(dict)), e.line);
      }
      case Expr::Kind::kAttribute: {
        FAVOR_ASSIGN_OR_RETURN(const Value object, Eval(*e.children[0], scope));
        return Member(object, Value(e.name), e);
      }
      case Expr::Kind::kIndex: {
        FAVOR_ASSIGN_OR_RETURN(const Value object, Eval(*e.children[0], scope));
        FAVOR_ASSIGN_OR_RETURN(const Value key, Eval(*e.children[1], scope));
        return Member(object, key, e);
      }
      case Expr::Kind::kSlice:
        return EvalSlice(e, scope);
      case Expr::Kind::kCall:
        return EvalCall(e, scope);
      case Expr::Kind::kFilter: {
        FAVOR_ASSIGN_OR_RETURN(const Value operand, Eval(*e.children[0], scope));
        return EvalFilter(e, operand, scope);
      }
      case Expr::Kind::kTest: {
        FAVOR_ASSIGN_OR_RETURN(const Value operand, Eval(*e.children[0], scope));
        List args;
        for (size_t i = 1; i < e.children.size(); ++i) {
          FAVOR_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i], scope));
          args.push_back(std::move(v));
        }
        auto result = ApplyTest(e.name, operand, args);
        if (!result.ok()) return Error(e.line, std::string(result.status().message()));
        return Value(*result != e.negated);
      }
      case Expr::Kind::kUnary: {
        FAVOR_ASSIGN_OR_RETURN(const Value v, Eval(*e.children[0], scope));
        if (e.name == "not") return Value(!v.Truthy());
        if (!v.is_number() || v.is_bool()) {
          return Error(e.line, absl::StrCat("bad operand type for unary ", e.name, ": '",
                                            v.TypeName(), "'"));
        }
        if (e.name == "+") return v;
        return v.is_int() ? Value(-v.integer()) : Value(-v.number());
      }
      case Expr::Kind::kBinary:
        return Charged(EvalBinary(e, scope), e.line);
      case Expr::Kind::kConditional: {
        FAVOR_ASSIGN_OR_RETURN(const Value condition, Eval(*e.children[1], scope));
        if (condition.Truthy()) return Eval(*e.children[0], scope);
        if (e.children[2] == nullptr) return Value::MakeUndefined("else");
        return Eval(*e.children[2], scope);
      }
    }
    return Error(e.line, "unknown expression");
  }

  // object.name or object[key]: dict items, list and string indices; undefined when missing, an
  // error on undefined itself (jinja2's default Undefined).
  absl::StatusOr<Value> Member(const Value& object, const Value& key, const Expr& e) {
    if (object.is_undefined()) {
      return Error(e.line, absl::StrCat("'", object.undefined_name(), "' is undefined"));
    }
    if (object.is_none()) {
      return Error(e.line, absl::StrCat("None has no attribute or item ", key.Repr()));
    }
    const std::string what = key.is_string() ? key.string() : key.Repr();
    if (object.is_dict()) {
      if (key.is_string()) {
        if (const Value* v = object.dict().Find(key.string())) return *v;
      }
      return Value::MakeUndefined(what);
    }
    size_t index = 0;
    int64_t position = 0;
    const bool numeric = key.is_int() || (key.is_string() && e.kind == Expr::Kind::kAttribute &&
                                          absl::SimpleAtoi(key.string(), &position));
    if (key.is_int()) position = key.integer();
    if (object.is_list() && numeric) {
      if (ResolveIndex(position, object.list().size(), index)) return object.list()[index];
      return Value::MakeUndefined(what);
    }
    if (object.is_string() && numeric) {
      auto pieces = CodePoints(object.string());
      if (!pieces.ok()) return Error(e.line, std::string(pieces.status().message()));
      const std::vector<std::string>& chars = *pieces;
      if (ResolveIndex(position, chars.size(), index)) return Value(chars[index]);
      return Value::MakeUndefined(what);
    }
    return Value::MakeUndefined(what);
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e, Scope& scope) {
    FAVOR_ASSIGN_OR_RETURN(const Value object, Eval(*e.children[0], scope));
    Value bounds[3];
    for (int i = 0; i < 3; ++i) {
      if (e.children[static_cast<size_t>(i) + 1] != nullptr) {
        FAVOR_ASSIGN_OR_RETURN(bounds[i], Eval(*e.children[static_cast<size_t>(i) + 1], scope));
      }
    }
    if (object.is_list()) {
      List out;
      for (size_t i : SliceIndices(bounds[0], bounds[1], bounds[2], object.list().size())) {
        out.push_back(object.list()[i]);
      }
      return Value(std::move(out));
    }
    if (object.is_string()) {
      auto pieces = CodePoints(object.string());
      if (!pieces.ok()) return Error(e.line, std::string(pieces.status().message()));
      const std::vector<std::string>& chars = *pieces;
      std::string out;
      for (size_t i : SliceIndices(bounds[0], bounds[1], bounds[2], chars.size())) out += chars[i];
      return Value(std::move(out));
    }
    return Error(e.line, absl::StrCat("cannot slice a ", object.TypeName()));
  }

  absl::StatusOr<CallArguments> EvalArguments(const Expr& e, size_t first, Scope& scope) {
    CallArguments args;
    args.budget = &budget_;
    // Each value goes straight from the StatusOr into the list (GCC 12 misreads a moved-from
    // local variant as uninitialized).
    for (size_t i = first; i < e.children.size(); ++i) {
      auto v = Eval(*e.children[i], scope);
      if (!v.ok()) return v.status();
      args.positional.push_back(*std::move(v));
    }
    for (const auto& [name, expr] : e.keywords) {
      auto v = Eval(*expr, scope);
      if (!v.ok()) return v.status();
      args.keywords.emplace_back(name, *std::move(v));
    }
    return args;
  }

  absl::StatusOr<Value> EvalCall(const Expr& e, Scope& scope) {
    FAVOR_ASSIGN_OR_RETURN(CallArguments args, EvalArguments(e, 1, scope));
    const Expr& callee = *e.children[0];
    if (callee.kind == Expr::Kind::kAttribute) {
      FAVOR_ASSIGN_OR_RETURN(const Value object, Eval(*callee.children[0], scope));
      bool found = false;
      auto result = CallMethod(object, callee.name, args, found);
      if (found) {
        if (!result.ok()) return Error(e.line, std::string(result.status().message()));
        return Charged(std::move(result), e.line);
      }
    }
    FAVOR_ASSIGN_OR_RETURN(const Value function, Eval(callee, scope));
    if (!function.is_callable()) {
      const std::string name = callee.kind == Expr::Kind::kName        ? callee.name
                               : callee.kind == Expr::Kind::kAttribute ? callee.name
                                                                       : "expression";
      return Error(e.line,
                   function.is_undefined()
                       ? absl::StrCat("'", name, "' is undefined (no such function)")
                       : absl::StrCat("'", name, "' is a ", function.TypeName(), ", not callable"));
    }
    auto result = function.function()(args);
    if (!result.ok() && !absl::StartsWith(result.status().message(), "chat template line")) {
      return Error(e.line, std::string(result.status().message()));
    }
    return Charged(std::move(result), e.line);
  }

  absl::StatusOr<Value> EvalFilter(const Expr& e, const Value& operand, Scope& scope) {
    FAVOR_ASSIGN_OR_RETURN(const CallArguments args, EvalArguments(e, 1, scope));
    auto result = ApplyFilter(e.name, operand, args);
    if (!result.ok()) return Error(e.line, std::string(result.status().message()));
    return Charged(std::move(result), e.line);
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e, Scope& scope) {
    const std::string& op = e.name;
    FAVOR_ASSIGN_OR_RETURN(const Value a, Eval(*e.children[0], scope));
    if (op == "and") return a.Truthy() ? Eval(*e.children[1], scope) : a;
    if (op == "or") return a.Truthy() ? a : Eval(*e.children[1], scope);
    FAVOR_ASSIGN_OR_RETURN(const Value b, Eval(*e.children[1], scope));
    if (op == "==") return Value(a == b);
    if (op == "!=") return Value(!(a == b));
    if (op == "~" || (op == "+" && a.is_string() && b.is_string())) {
      const std::string left = a.Str(), right = b.Str();
      if (static_cast<int64_t>(left.size() + right.size()) > kMaxStringBytes) {
        return Error(e.line, "a text larger than 64 MiB");
      }
      return Value(left + right);
    }
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string() && a.is_string()) {
        found = b.string().find(a.string()) != std::string::npos;
      } else if (b.is_list()) {
        for (const Value& item : b.list()) found |= item == a;
      } else if (b.is_dict()) {
        found = a.is_string() && b.dict().Find(a.string()) != nullptr;
      } else if (!b.is_undefined()) {
        return Error(e.line,
                     absl::StrCat("'in' needs a string, list or dict, not a ", b.TypeName()));
      }
      return Value(op == "in" ? found : !found);
    }
    const auto mismatch = [&]() {
      return Error(e.line, absl::StrCat("unsupported operand types for ", op, ": '", a.TypeName(),
                                        "' and '", b.TypeName(), "'"));
    };
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int order = 0;
      if (a.is_number() && b.is_number()) {
        order = a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
      } else if (a.is_string() && b.is_string()) {
        order = a.string().compare(b.string());
        order = order < 0 ? -1 : order > 0 ? 1 : 0;
      } else {
        return mismatch();
      }
      if (op == "<") return Value(order < 0);
      if (op == "<=") return Value(order <= 0);
      if (op == ">") return Value(order > 0);
      return Value(order >= 0);
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.string() + b.string());
      if (a.is_list() && b.is_list()) {
        if (static_cast<int64_t>(a.list().size() + b.list().size()) > kMaxListItems) {
          return Error(e.line, "a list longer than 1000000");
        }
        List out = a.list();
        out.insert(out.end(), b.list().begin(), b.list().end());
        return Value(std::move(out));
      }
    }
    if (op == "*" && a.is_string() && b.is_int()) {
      const int64_t times = std::max<int64_t>(b.integer(), 0);
      if (!a.string().empty() &&
          times > static_cast<int64_t>(kMaxOutputBytes / a.string().size())) {
        return Error(e.line, "a repeated string that exceeds 64 MiB");
      }
      // Doubling what is there: log(times) copies, not one append per repetition.
      const size_t total = a.string().size() * static_cast<size_t>(times);
      std::string out;
      out.reserve(total);
      if (total > 0) out = a.string();
      while (out.size() < total) out.append(out, 0, std::min(out.size(), total - out.size()));
      return Value(std::move(out));
    }
    if (!a.is_number() || !b.is_number()) return mismatch();
    const bool integers = a.is_int() && b.is_int();
    // Python's integers have no bound; ours are 64-bit, and a result past them is an error, not
    // a wrapped number (or undefined behaviour).
    const auto overflow = [&] { return Error(e.line, "an integer past 64 bits"); };
    if (integers && (op == "+" || op == "-" || op == "*")) {
      int64_t result = 0;
      const bool overflowed = op == "+" ? __builtin_add_overflow(a.integer(), b.integer(), &result)
                              : op == "-"
                                  ? __builtin_sub_overflow(a.integer(), b.integer(), &result)
                                  : __builtin_mul_overflow(a.integer(), b.integer(), &result);
      if (overflowed) return overflow();
      return Value(result);
    }
    if (op == "+") return Value(a.number() + b.number());
    if (op == "-") return Value(a.number() - b.number());
    if (op == "*") return Value(a.number() * b.number());
    if (op == "**") {
      const double power = std::pow(a.number(), b.number());
      if (integers && b.integer() >= 0) {
        // 2^63 is the first double past int64; the cast of anything beyond is undefined.
        if (!(std::fabs(power) < 9223372036854775808.0)) return overflow();
        return Value(static_cast<int64_t>(power));
      }
      return Value(power);
    }
    if (b.number() == 0.0) return Error(e.line, "division by zero");
    if (integers && b.integer() == -1 && a.integer() == std::numeric_limits<int64_t>::min() &&
        (op == "//" || op == "%")) {
      if (op == "%") return Value(int64_t{0});
      return overflow();
    }
    if (op == "/") return Value(a.number() / b.number());
    if (op == "//") {
      if (integers) {
        const int64_t q = a.integer() / b.integer();
        return Value((a.integer() % b.integer() != 0 && ((a.integer() < 0) != (b.integer() < 0)))
                         ? q - 1
                         : q);
      }
      return Value(std::floor(a.number() / b.number()));
    }
    if (op == "%") {
      if (integers) {
        const int64_t r = a.integer() % b.integer();
        return Value(r != 0 && ((r < 0) != (b.integer() < 0)) ? r + b.integer() : r);
      }
      const double r = std::fmod(a.number(), b.number());
      return Value(r != 0.0 && ((r < 0) != (b.number() < 0)) ? r + b.number() : r);
    }
    return mismatch();
  }

  // Every value an operator, filter, method or call builds is charged here.
  absl::StatusOr<Value> Charged(absl::StatusOr<Value> v, int line) {
    if (!v.ok()) return v;
    if (const absl::Status charged = budget_.Charge(v->BuiltBytes()); !charged.ok()) {
      return Error(line, std::string(charged.message()));
    }
    return v;
  }

  int64_t iterations_ = 0;
  int depth_ = 0;
  BuildBudget budget_;
};

}  // namespace

absl::StatusOr<JinjaTemplate> JinjaTemplate::Parse(const std::string& source) {
  FAVOR_ASSIGN_OR_RETURN(Body body, ParseTemplate(source));
  return JinjaTemplate(std::make_shared<const Body>(std::move(body)));
}

absl::StatusOr<std::string> JinjaTemplate::Render(const Dict& variables) const {
  auto globals = std::make_shared<Scope>();
  globals->variables = GlobalFunctions();
  auto scope = std::make_shared<Scope>();
  scope->parent = globals;
  scope->variables = variables;
  std::string out;
  Renderer renderer;
  FAVOR_RETURN_IF_ERROR(renderer.Render(*body_, scope, out));
  return out;
}

}  // namespace favor::chat
