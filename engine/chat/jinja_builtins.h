// What Jinja provides by name: filters (x | trim), tests (x is defined), the methods of Python's
// str, list and dict that chat templates call (content.strip(), message.get("role")), and the
// globals Hugging Face gives templates (range, namespace, raise_exception, strftime_now).
// Anything else is an error naming it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/chat/jinja_value.h"

namespace favor::chat {

absl::StatusOr<Value> ApplyFilter(const std::string& name, const Value& operand,
                                  const CallArguments& args);
absl::StatusOr<bool> ApplyTest(const std::string& name, const Value& operand, const List& args);
// nullopt-like: `found` false when the object has no method of that name.
absl::StatusOr<Value> CallMethod(const Value& object, const std::string& name,
                                 const CallArguments& args, bool& found);
// The global functions; raise_exception's error message is the template's own.
Dict GlobalFunctions();

// Python's str.strip() family on UTF-8 (ASCII whitespace, or the given characters).
std::string Strip(const std::string& s, const std::string& characters, bool left, bool right);
// Code points of a UTF-8 string, for indexing and slicing as Python does; refused past
// kMaxListItems of them.
absl::StatusOr<std::vector<std::string>> CodePoints(const std::string& s);
// Their number, without building them.
int64_t CodePointCount(const std::string& s);

}  // namespace favor::chat
