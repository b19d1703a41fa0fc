// Jinja's lexer and parser: the template cut into text and tags (with jinja2's whitespace control:
// "-" trims, trim_blocks drops the newline after a block tag, lstrip_blocks the indentation
// before one), each tag's tokens, and recursive descent with jinja2's operator precedence.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_ast.h"
#include "engine/core/status.h"
#include "engine/text/utf8.h"

namespace favor::chat {
namespace {

struct Token {
  enum class Kind { kName, kInt, kFloat, kString, kOperator, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;
  int line = 0;
};

// A piece of the template: text, or a tag's tokens.
struct Segment {
  enum class Kind { kText, kExpression, kBlock };
  Kind kind = Kind::kText;
  std::string text;
  std::vector<Token> tokens;
  int line = 0;
};

absl::Status SyntaxError(int line, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("chat template line ", line, ": ", message));
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Lexer {
 public:
  explicit Lexer(const std::string& source) : s_(source) {
    if (!s_.empty() && s_.back() == '\n') s_.pop_back();  // keep_trailing_newline=False.
  }

  absl::StatusOr<std::vector<Segment>> Run() {
    std::vector<Segment> segments;
    bool trim_next = false;     // The previous tag ended with "-".
    bool block_before = false;  // The previous tag was a block or comment (trim_blocks).
    while (pos_ <= s_.size()) {
      const size_t open = FindTagStart(pos_);
      std::string text = s_.substr(pos_, open - pos_);
      const bool at_end = open >= s_.size();
      const char type = at_end ? 0 : s_[open + 1];
      const char modifier = at_end || open + 2 >= s_.size() ? 0 : s_[open + 2];
      // Leading trims belong to the previous tag.
      if (trim_next) {
        size_t i = 0;
        while (i < text.size() && IsSpace(text[i])) ++i;
        text.erase(0, i);
      } else if (block_before && !text.empty()) {
        if (text[0] == '\n') {
          text.erase(0, 1);
        } else if (text.size() > 1 && text[0] == '\r' && text[1] == '\n') {
          text.erase(0, 2);
        }
      }
      if (!at_end) {
        if (modifier == '-') {
          while (!text.empty() && IsSpace(text.back())) text.pop_back();
        } else if ((type == '%' || type == '#') && modifier != '+') {
          // lstrip_blocks: the indentation of a line that starts with a block tag.
          const size_t newline = open == 0 ? std::string::npos : s_.rfind('\n', open - 1);
          const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
          bool blank = true;
          for (size_t i = line_start; i < open && blank; ++i) blank = s_[i] == ' ' || s_[i] == '\t';
          if (blank) text.erase(text.size() - std::min(text.size(), open - line_start));
        }
      }
      if (!text.empty()) segments.push_back({Segment::Kind::kText, text, {}, line_});
      CountLines(pos_, open);
      if (at_end) break;
      pos_ = open + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      if (type == '#') {
        const size_t close = s_.find("#}", pos_);
        if (close == std::string::npos) return SyntaxError(line_, "unterminated comment");
        trim_next = close > pos_ && s_[close - 1] == '-';
        block_before = true;
        CountLines(pos_, close + 2);
        pos_ = close + 2;
        continue;
      }
      Segment tag;
      tag.kind = type == '{' ? Segment::Kind::kExpression : Segment::Kind::kBlock;
      tag.line = line_;
      FAVOR_ASSIGN_OR_RETURN(trim_next, LexTag(type == '{' ? '}' : '%', tag.tokens));
      block_before = tag.kind == Segment::Kind::kBlock;
      if (tag.kind == Segment::Kind::kBlock && !tag.tokens.empty() && tag.tokens[0].text == "raw") {
        FAVOR_RETURN_IF_ERROR(ReadRaw(segments, trim_next));
        block_before = true;
        continue;
      }
      segments.push_back(std::move(tag));
    }
    return segments;
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t i = from; i + 1 < s_.size(); ++i) {
      if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return s_.size();
  }

  void CountLines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < s_.size(); ++i) line_ += s_[i] == '\n' ? 1 : 0;
  }

  // {% raw %}...{% endraw %}: the text between, verbatim.
  absl::Status ReadRaw(std::vector<Segment>& segments, bool trim) {
    size_t search = pos_;
    while (true) {
      const size_t open = s_.find("{%", search);
      if (open == std::string::npos) return SyntaxError(line_, "{% raw %} without {% endraw %}");
      size_t i = open + 2;
      const bool strip_before = i < s_.size() && s_[i] == '-';
      if (strip_before) ++i;
      while (i < s_.size() && IsSpace(s_[i])) ++i;
      if (s_.compare(i, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      std::string text = s_.substr(pos_, open - pos_);
      if (trim) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
      }
      if (strip_before) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      segments.push_back({Segment::Kind::kText, text, {}, line_});
      CountLines(pos_, open);
      pos_ = i + 6;
      std::vector<Token> rest;
      FAVOR_RETURN_IF_ERROR(LexTag('%', rest).status());
      return absl::OkStatus();
    }
  }

  // The tokens up to the closer ("}}" or "%}"); returns whether it was "-}}"/"-%}".
  absl::StatusOr<bool> LexTag(char closer, std::vector<Token>& tokens) {
    static const char* kOperators[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                       "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                       "]",  "{",  "}",  ",",  ".",  ":",  "|"};
    while (true) {
      while (pos_ < s_.size() && IsSpace(s_[pos_])) {
        line_ += s_[pos_] == '\n' ? 1 : 0;
        ++pos_;
      }
      if (pos_ >= s_.size()) return SyntaxError(line_, "unterminated tag");
      // The closer, possibly with "-" before it.
      for (const bool dash : {true, false}) {
        const size_t at = pos_ + (dash ? 1 : 0);
        if (dash && s_[pos_] != '-') continue;
        if (at + 1 < s_.size() && s_[at] == closer && s_[at + 1] == '}') {
          // "-}}" after an operand is still the closer (jinja2 reads it so).
          pos_ = at + 2;
          return dash;
        }
      }
      const char c = s_[pos_];
      Token token;
      token.line = line_;
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = pos_;
        while (end < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
          ++end;
        }
        token.kind = Token::Kind::kName;
        token.text = s_.substr(pos_, end - pos_);
        pos_ = end;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t end = pos_;
        bool is_float = false;
        while (end < s_.size() &&
               (std::isdigit(static_cast<unsigned char>(s_[end])) || s_[end] == '_' ||
                (s_[end] == '.' && !is_float && end + 1 < s_.size() &&
                 std::isdigit(static_cast<unsigned char>(s_[end + 1]))))) {
          is_float |= s_[end] == '.';
          ++end;
        }
        // An exponent (1e20, 2.5E-3) makes a float too.
        if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
          size_t digits = end + 1;
          if (digits < s_.size() && (s_[digits] == '+' || s_[digits] == '-')) ++digits;
          if (digits < s_.size() && std::isdigit(static_cast<unsigned char>(s_[digits]))) {
            end = digits;
            while (end < s_.size() && std::isdigit(static_cast<unsigned char>(s_[end]))) ++end;
            is_float = true;
          }
        }
        token.kind = is_float ? Token::Kind::kFloat : Token::Kind::kInt;
        for (size_t i = pos_; i < end; ++i) {
          if (s_[i] != '_') token.text += s_[i];
        }
        pos_ = end;
      } else if (c == '\'' || c == '"') {
        FAVOR_ASSIGN_OR_RETURN(token.text, LexString(c));
        token.kind = Token::Kind::kString;
      } else {
        for (const char* op : kOperators) {
          if (s_.compare(pos_, std::strlen(op), op) == 0) {
            token.kind = Token::Kind::kOperator;
            token.text = op;
            pos_ += std::strlen(op);
            break;
          }
        }
        if (token.kind != Token::Kind::kOperator) {
          return SyntaxError(line_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
        }
      }
      tokens.push_back(std::move(token));
    }
  }

  absl::StatusOr<std::string> LexString(char quote) {
    std::string out;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      char c = s_[pos_++];
      if (c == '\n') ++line_;
      if (c != '\\' || pos_ >= s_.size()) {
        out += c;
        continue;
      }
      const char e = s_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
        case '\'':
        case '"':
          out += e;
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return SyntaxError(line_, "bad \\u escape");
          const uint32_t cp =
              static_cast<uint32_t>(std::strtoul(s_.substr(pos_, 4).c_str(), nullptr, 16));
          pos_ += 4;
          text::AppendCodepoint(cp, out);
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    if (pos_ >= s_.size()) return SyntaxError(line_, "unterminated string");
    ++pos_;
    return out;
  }

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
};

// Recursive descent over one tag's tokens.
class ExpressionParser {
 public:
  ExpressionParser(const std::vector<Token>& tokens, size_t start, int line)
      : tokens_(tokens), i_(start), line_(line) {}

  size_t position() const { return i_; }
  bool AtEnd() const { return i_ >= tokens_.size(); }
  const Token& Peek(size_t ahead = 0) const {
    static const Token kEnd;
    return i_ + ahead < tokens_.size() ? tokens_[i_ + ahead] : kEnd;
  }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kOperator && Peek(ahead).text == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == name;
  }
  absl::Status Expect(const char* op) {
    if (!IsOp(op)) {
      return SyntaxError(line_, absl::StrCat("expected '", op, "', found '", Peek().text, "'"));
    }
    ++i_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().kind != Token::Kind::kName) {
      return SyntaxError(line_, absl::StrCat("expected a name, found '", Peek().text, "'"));
    }
    return tokens_[i_++].text;
  }
  absl::Status ExpectEnd() {
    if (!AtEnd()) return SyntaxError(line_, absl::StrCat("unexpected '", Peek().text, "'"));
    return absl::OkStatus();
  }

  // expression [if cond [else expr]]
  absl::StatusOr<ExprPtr> Expression() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr value, Or());
    if (IsName("if")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr condition, Or());
      ExprPtr otherwise;
      if (IsName("else")) {
        ++i_;
        FAVOR_ASSIGN_OR_RETURN(otherwise, Expression());
      }
      auto e = Make(Expr::Kind::kConditional);
      e->children.push_back(std::move(value));
      e->children.push_back(std::move(condition));
      e->children.push_back(std::move(otherwise));
      return e;
    }
    return value;
  }

  // A comma-separated tuple without parentheses (for targets and "for a, b in").
  absl::StatusOr<ExprPtr> Target() {
    auto tuple = Make(Expr::Kind::kTuple);
    do {
      FAVOR_ASSIGN_OR_RETURN(ExprPtr item, Primary());
      FAVOR_ASSIGN_OR_RETURN(item, Postfix(std::move(item)));
      tuple->children.push_back(std::move(item));
    } while (IsOp(",") && (++i_, true));
    if (tuple->children.size() == 1) return std::move(tuple->children[0]);
    return tuple;
  }

  absl::StatusOr<ExprPtr> Or() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, And());
    while (IsName("or")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, And());
      left = Binary("or", std::move(left), std::move(right));
    }
    return left;
  }
  absl::StatusOr<ExprPtr> And() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Not());
    while (IsName("and")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Not());
      left = Binary("and", std::move(left), std::move(right));
    }
    return left;
  }
  absl::StatusOr<ExprPtr> Not() {
    if (IsName("not")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr operand, Not());
      auto e = Make(Expr::Kind::kUnary);
      e->name = "not";
      e->children.push_back(std::move(operand));
      return e;
    }
    return Compare();
  }
  absl::StatusOr<ExprPtr> Compare() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Add());
    while (true) {
      std::string op;
      if (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp("<=") || IsOp(">") || IsOp(">=")) {
        op = tokens_[i_++].text;
      } else if (IsName("in")) {
        op = "in";
        ++i_;
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        i_ += 2;
      } else {
        return left;
      }
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Add());
      left = Binary(op, std::move(left), std::move(right));
    }
  }
  absl::StatusOr<ExprPtr> Add() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Concat());
    while (IsOp("+") || IsOp("-")) {
      const std::string op = tokens_[i_++].text;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Concat());
      left = Binary(op, std::move(left), std::move(right));
    }
    return left;
  }
  absl::StatusOr<ExprPtr> Concat() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Multiply());
    while (IsOp("~")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Multiply());
      left = Binary("~", std::move(left), std::move(right));
    }
    return left;
  }
  absl::StatusOr<ExprPtr> Multiply() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Power());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const std::string op = tokens_[i_++].text;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Power());
      left = Binary(op, std::move(left), std::move(right));
    }
    return left;
  }
  absl::StatusOr<ExprPtr> Power() {
    FAVOR_ASSIGN_OR_RETURN(ExprPtr left, Unary());
    while (IsOp("**")) {
      ++i_;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr right, Unary());
      left = Binary("**", std::move(left), std::move(right));
    }
    return left;
  }
  // As jinja2: a sign binds tighter than the filters after it (-3|abs is (-3)|abs).
  absl::StatusOr<ExprPtr> Unary(bool with_filters = true) {
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      const std::string op = tokens_[i_++].text;
      FAVOR_ASSIGN_OR_RETURN(ExprPtr operand, Unary(false));
      e = Make(Expr::Kind::kUnary);
      e->name = op;
      e->children.push_back(std::move(operand));
    } else {
      FAVOR_ASSIGN_OR_RETURN(e, Primary());
      FAVOR_ASSIGN_OR_RETURN(e, Postfix(std::move(e)));
    }
    if (!with_filters) return e;
    return FiltersAndTests(std::move(e));
  }

  absl::StatusOr<ExprPtr> FiltersAndTests(ExprPtr e) {
    while (true) {
      if (IsOp("|")) {
        ++i_;
        FAVOR_ASSIGN_OR_RETURN(e, Filter(std::move(e)));
      } else if (IsName("is")) {
        ++i_;
        auto test = Make(Expr::Kind::kTest);
        if (IsName("not")) {
          test->negated = true;
          ++i_;
        }
        FAVOR_ASSIGN_OR_RETURN(test->name, ExpectName());
        test->children.push_back(std::move(e));
        if (IsOp("(")) {
          FAVOR_RETURN_IF_ERROR(Arguments(*test));
        } else if (!AtEnd() &&
                   (Peek().kind == Token::Kind::kOperator
                        ? IsOp("[") || IsOp("{")
                        : Peek().kind != Token::Kind::kName || !IsKeyword(Peek().text))) {
          // "is divisibleby 3", "is sameas none": one argument without parentheses.
          FAVOR_ASSIGN_OR_RETURN(ExprPtr argument, Primary());
          test->children.push_back(std::move(argument));
        }
        e = std::move(test);
      } else {
        return e;
      }
    }
  }

  // The filter after "|" (name and optional arguments), applied to `operand` (null in a filter
  // block).
  absl::StatusOr<ExprPtr> Filter(ExprPtr operand) {
    auto filter = Make(Expr::Kind::kFilter);
    FAVOR_ASSIGN_OR_RETURN(filter->name, ExpectName());
    filter->children.push_back(std::move(operand));
    if (IsOp("(")) FAVOR_RETURN_IF_ERROR(Arguments(*filter));
    return filter;
  }

  absl::StatusOr<ExprPtr> Postfix(ExprPtr e) {
    while (true) {
      if (IsOp(".")) {
        ++i_;
        auto attribute = Make(Expr::Kind::kAttribute);
        if (Peek().kind == Token::Kind::kInt) {
          attribute->name = tokens_[i_++].text;  // tuple.0
        } else {
          FAVOR_ASSIGN_OR_RETURN(attribute->name, ExpectName());
        }
        attribute->children.push_back(std::move(e));
        e = std::move(attribute);
      } else if (IsOp("[")) {
        ++i_;
        FAVOR_ASSIGN_OR_RETURN(e, Subscript(std::move(e)));
      } else if (IsOp("(")) {
        auto call = Make(Expr::Kind::kCall);
        call->children.push_back(std::move(e));
        FAVOR_RETURN_IF_ERROR(Arguments(*call));
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  absl::StatusOr<ExprPtr> Subscript(ExprPtr object) {
    ExprPtr parts[3];
    int part = 0;
    bool slice = false;
    while (!IsOp("]")) {
      if (IsOp(":")) {
        slice = true;
        if (++part > 2) return SyntaxError(line_, "a slice has at most three parts");
        ++i_;
        continue;
      }
      FAVOR_ASSIGN_OR_RETURN(parts[part], Expression());
    }
    ++i_;
    auto e = Make(slice ? Expr::Kind::kSlice : Expr::Kind::kIndex);
    e->children.push_back(std::move(object));
    if (!slice && parts[0] == nullptr) return SyntaxError(line_, "empty subscript");
    for (int p = 0; p < (slice ? 3 : 1); ++p) e->children.push_back(std::move(parts[p]));
    return e;
  }

  // "(" positional, keyword=value ")" into e's children and keywords.
  absl::Status Arguments(Expr& e) {
    FAVOR_RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
        std::string name = tokens_[i_].text;
        i_ += 2;
        FAVOR_ASSIGN_OR_RETURN(ExprPtr value, Expression());
        e.keywords.emplace_back(std::move(name), std::move(value));
      } else {
        FAVOR_ASSIGN_OR_RETURN(ExprPtr value, Expression());
        e.children.push_back(std::move(value));
      }
      if (!IsOp(")")) FAVOR_RETURN_IF_ERROR(Expect(","));
    }
    ++i_;
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> Primary() {
    const Token& t = Peek();
    if (AtEnd()) return SyntaxError(line_, "expression expected");
    switch (t.kind) {
      case Token::Kind::kInt: {
        ++i_;
        return Literal(Value(static_cast<int64_t>(std::strtoll(t.text.c_str(), nullptr, 10))));
      }
      case Token::Kind::kFloat:
        ++i_;
        return Literal(Value(std::strtod(t.text.c_str(), nullptr)));
      case Token::Kind::kString: {
        std::string text;
        while (Peek().kind == Token::Kind::kString) text += tokens_[i_++].text;  // "a" "b"
        return Literal(Value(std::move(text)));
      }
      case Token::Kind::kName: {
        ++i_;
        if (t.text == "true" || t.text == "True") return Literal(Value(true));
        if (t.text == "false" || t.text == "False") return Literal(Value(false));
        if (t.text == "none" || t.text == "None") return Literal(Value::MakeNone());
        auto e = Make(Expr::Kind::kName);
        e->name = t.text;
        return e;
      }
      case Token::Kind::kOperator:
        break;
      case Token::Kind::kEnd:
        return SyntaxError(line_, "expression expected");
    }
    if (IsOp("(")) {
      ++i_;
      if (IsOp(")")) {
        ++i_;
        return Make(Expr::Kind::kTuple);
      }
      FAVOR_ASSIGN_OR_RETURN(ExprPtr first, Expression());
      if (!IsOp(",")) {
        FAVOR_RETURN_IF_ERROR(Expect(")"));
        return first;
      }
      auto tuple = Make(Expr::Kind::kTuple);
      tuple->children.push_back(std::move(first));
      while (IsOp(",")) {
        ++i_;
        if (IsOp(")")) break;
        FAVOR_ASSIGN_OR_RETURN(ExprPtr item, Expression());
        tuple->children.push_back(std::move(item));
      }
      FAVOR_RETURN_IF_ERROR(Expect(")"));
      return tuple;
    }
    if (IsOp("[")) {
      ++i_;
      auto list = Make(Expr::Kind::kList);
      while (!IsOp("]")) {
        FAVOR_ASSIGN_OR_RETURN(ExprPtr item, Expression());
        list->children.push_back(std::move(item));
        if (!IsOp("]")) FAVOR_RETURN_IF_ERROR(Expect(","));
      }
      ++i_;
      return list;
    }
    if (IsOp("{")) {
      ++i_;
      auto dict = Make(Expr::Kind::kDict);
      while (!IsOp("}")) {
        FAVOR_ASSIGN_OR_RETURN(ExprPtr key, Expression());
        FAVOR_RETURN_IF_ERROR(Expect(":"));
        FAVOR_ASSIGN_OR_RETURN(ExprPtr value, Expression());
        dict->children.push_back(std::move(key));
        dict->children.push_back(std::move(value));
        if (!IsOp("}")) FAVOR_RETURN_IF_ERROR(Expect(","));
      }
      ++i_;
      return dict;
    }
    return SyntaxError(line_, absl::StrCat("unexpected '", t.text, "'"));
  }

 private:
  static bool IsKeyword(const std::string& name) {
    static const std::set<std::string> kKeywords = {"and", "or", "not", "in", "is", "if", "else"};
    return kKeywords.count(name) > 0;
  }
  ExprPtr Make(Expr::Kind kind) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line_;
    return e;
  }
  ExprPtr Literal(Value v) const {
    auto e = Make(Expr::Kind::kLiteral);
    e->literal = std::move(v);
    return e;
  }
  ExprPtr Binary(const std::string& op, ExprPtr left, ExprPtr right) const {
    auto e = Make(Expr::Kind::kBinary);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  const std::vector<Token>& tokens_;
  size_t i_;
  int line_;
};

// The block structure over the segments.
class TemplateParser {
 public:
  explicit TemplateParser(std::vector<Segment> segments) : segments_(std::move(segments)) {}

  absl::StatusOr<Body> Parse() {
    Body body;
    FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(body, {}));
    if (!end.empty()) return SyntaxError(last_line_, absl::StrCat("unexpected {% ", end, " %}"));
    return body;
  }

 private:
  // Appends nodes to `body` until a block tag whose keyword is in `ends` (returned; its tokens
  // stay at end_tokens_), or the end of the template ("").
  absl::StatusOr<std::string> ParseBody(Body& body, const std::set<std::string>& ends) {
    while (next_ < segments_.size()) {
      Segment& segment = segments_[next_++];
      last_line_ = segment.line;
      if (segment.kind == Segment::Kind::kText) {
        auto node = MakeNode(Node::Kind::kText, segment.line);
        node->text = std::move(segment.text);
        body.push_back(std::move(node));
        continue;
      }
      if (segment.kind == Segment::Kind::kExpression) {
        ExpressionParser p(segment.tokens, 0, segment.line);
        auto node = MakeNode(Node::Kind::kOutput, segment.line);
        FAVOR_ASSIGN_OR_RETURN(node->expr, p.Expression());
        FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
        body.push_back(std::move(node));
        continue;
      }
      if (segment.tokens.empty() || segment.tokens[0].kind != Token::Kind::kName) {
        return SyntaxError(segment.line, "empty block tag");
      }
      const std::string keyword = segment.tokens[0].text;
      if (ends.count(keyword) > 0) {
        end_segment_ = &segment;
        return keyword;
      }
      FAVOR_ASSIGN_OR_RETURN(NodePtr node, ParseStatement(segment, keyword));
      if (node != nullptr) body.push_back(std::move(node));
    }
    if (!ends.empty()) {
      return SyntaxError(last_line_, absl::StrCat("missing {% ", *ends.rbegin(), " %}"));
    }
    return std::string();
  }

  absl::StatusOr<NodePtr> ParseStatement(const Segment& segment, const std::string& keyword) {
    ExpressionParser p(segment.tokens, 1, segment.line);
    const int line = segment.line;
    if (keyword == "if") {
      auto node = MakeNode(Node::Kind::kIf, line);
      FAVOR_ASSIGN_OR_RETURN(ExprPtr condition, p.Expression());
      FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
      while (true) {
        Body branch;
        FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(branch, {"elif", "else", "endif"}));
        node->branches.emplace_back(std::move(condition), std::move(branch));
        if (end == "endif") break;
        ExpressionParser q(end_segment_->tokens, 1, end_segment_->line);
        if (end == "elif") {
          FAVOR_ASSIGN_OR_RETURN(condition, q.Expression());
          FAVOR_RETURN_IF_ERROR(q.ExpectEnd());
        } else {
          FAVOR_RETURN_IF_ERROR(q.ExpectEnd());
          Body otherwise;
          FAVOR_ASSIGN_OR_RETURN(const std::string last, ParseBody(otherwise, {"endif"}));
          node->branches.emplace_back(nullptr, std::move(otherwise));
          (void)last;
          break;
        }
      }
      return node;
    }
    if (keyword == "for") {
      auto node = MakeNode(Node::Kind::kFor, line);
      FAVOR_ASSIGN_OR_RETURN(node->target, p.Target());
      if (!p.IsName("in")) return SyntaxError(line, "expected 'in' in a for loop");
      ExpressionParser rest(segment.tokens, p.position() + 1, line);
      FAVOR_ASSIGN_OR_RETURN(node->expr, rest.Or());
      if (rest.IsName("if")) {
        ExpressionParser condition(segment.tokens, rest.position() + 1, line);
        FAVOR_ASSIGN_OR_RETURN(node->condition, condition.Expression());
        FAVOR_RETURN_IF_ERROR(condition.ExpectEnd());
      } else if (rest.IsName("recursive")) {
        return SyntaxError(line, "recursive for loops are not supported");
      } else {
        FAVOR_RETURN_IF_ERROR(rest.ExpectEnd());
      }
      FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(node->body, {"else", "endfor"}));
      if (end == "else") {
        FAVOR_ASSIGN_OR_RETURN(const std::string last, ParseBody(node->else_body, {"endfor"}));
        (void)last;
      }
      return node;
    }
    if (keyword == "set") {
      FAVOR_ASSIGN_OR_RETURN(ExprPtr target, p.Target());
      if (p.AtEnd()) {
        auto node = MakeNode(Node::Kind::kSetBlock, line);
        node->target = std::move(target);
        FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(node->body, {"endset"}));
        (void)end;
        return node;
      }
      auto node = MakeNode(Node::Kind::kSet, line);
      node->target = std::move(target);
      FAVOR_RETURN_IF_ERROR(p.Expect("="));
      FAVOR_ASSIGN_OR_RETURN(node->expr, p.Expression());
      if (p.IsOp(",")) {  // set a = 1, 2: a tuple.
        auto tuple = std::make_unique<Expr>();
        tuple->kind = Expr::Kind::kTuple;
        tuple->children.push_back(std::move(node->expr));
        while (p.IsOp(",")) {
          FAVOR_RETURN_IF_ERROR(p.Expect(","));
          FAVOR_ASSIGN_OR_RETURN(ExprPtr item, p.Expression());
          tuple->children.push_back(std::move(item));
        }
        node->expr = std::move(tuple);
      }
      FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
      return node;
    }
    if (keyword == "macro") {
      auto node = MakeNode(Node::Kind::kMacro, line);
      FAVOR_ASSIGN_OR_RETURN(node->name, p.ExpectName());
      FAVOR_RETURN_IF_ERROR(p.Expect("("));
      while (!p.IsOp(")")) {
        FAVOR_ASSIGN_OR_RETURN(std::string name, p.ExpectName());
        ExprPtr fallback;
        if (p.IsOp("=")) {
          FAVOR_RETURN_IF_ERROR(p.Expect("="));
          FAVOR_ASSIGN_OR_RETURN(fallback, p.Expression());
        }
        node->parameters.emplace_back(std::move(name), std::move(fallback));
        if (!p.IsOp(")")) FAVOR_RETURN_IF_ERROR(p.Expect(","));
      }
      FAVOR_RETURN_IF_ERROR(p.Expect(")"));
      FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
      FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(node->body, {"endmacro"}));
      (void)end;
      return node;
    }
    if (keyword == "filter") {
      auto node = MakeNode(Node::Kind::kFilterBlock, line);
      FAVOR_ASSIGN_OR_RETURN(node->expr, p.Filter(nullptr));
      FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
      FAVOR_ASSIGN_OR_RETURN(const std::string end, ParseBody(node->body, {"endfilter"}));
      (void)end;
      return node;
    }
    if (keyword == "break" || keyword == "continue") {
      FAVOR_RETURN_IF_ERROR(p.ExpectEnd());
      return MakeNode(keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line);
    }
    if (keyword == "generation" || keyword == "endgeneration") {
      return NodePtr();  // Hugging Face's marker of assistant text for training masks.
    }
    if (keyword.rfind("end", 0) == 0 || keyword == "elif" || keyword == "else") {
      return SyntaxError(line, absl::StrCat("unexpected {% ", keyword, " %}"));
    }
    return SyntaxError(line, absl::StrCat("unsupported statement {% ", keyword, " %}"));
  }

  static NodePtr MakeNode(Node::Kind kind, int line) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->line = line;
    return node;
  }

  std::vector<Segment> segments_;
  size_t next_ = 0;
  const Segment* end_segment_ = nullptr;
  int last_line_ = 1;
};

}  // namespace

absl::StatusOr<Body> ParseTemplate(const std::string& source) {
  Lexer lexer(source);
  FAVOR_ASSIGN_OR_RETURN(std::vector<Segment> segments, lexer.Run());
  TemplateParser parser(std::move(segments));
  return parser.Parse();
}

}  // namespace favor::chat
