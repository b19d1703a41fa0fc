#include "tools/prompt_text.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/core/storage.h"

namespace favor::cli {

absl::StatusOr<std::string> ReadPromptFile(const std::string& path) {
  auto text = ReadFileBytes(path);
  if (!text.ok()) return text.status();
  if (!text->empty() && text->back() == '\n') text->pop_back();
  if (!text->empty() && text->back() == '\r') text->pop_back();
  return text;
}

std::string ProcessEscapes(absl::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char next = text[i + 1];
    char replacement = 0;
    switch (next) {
      case 'n':
        replacement = '\n';
        break;
      case 'r':
        replacement = '\r';
        break;
      case 't':
        replacement = '\t';
        break;
      case '"':
        replacement = '"';
        break;
      case '\'':
        replacement = '\'';
        break;
      case '\\':
        replacement = '\\';
        break;
      case 'x':
        if (i + 3 < text.size() && hex(text[i + 2]) >= 0 && hex(text[i + 3]) >= 0) {
          out += static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3]));
          i += 3;
          continue;
        }
        break;
      default:
        break;
    }
    if (replacement == 0) {
      out += text[i];  // Not an escape: the backslash stays.
      continue;
    }
    out += replacement;
    ++i;
  }
  return out;
}

void WarnUnrepresentable(const std::string& command, const text::Tokenizer& tokenizer,
                         std::span<const int32_t> ids, absl::string_view text) {
  auto characters = tokenizer.UnrepresentableCharacters(text, ids);
  if (!characters.ok() || characters->empty()) return;
  // Control characters shown as \xHH: printed raw they would be invisible.
  std::string shown;
  for (const std::string& character : *characters) {
    if (!shown.empty()) shown += ' ';
    for (const char c : character) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        absl::StrAppendFormat(&shown, "\\x%02X", byte);
      } else {
        shown += c;
      }
    }
  }
  std::fprintf(stderr,
               "favor %s: warning: the vocabulary cannot represent %s; the model sees the unknown "
               "token instead, or nothing where the vocabulary has none\n",
               command.c_str(), shown.c_str());
}

void WarnBeyondTrainedContext(const std::string& command, int64_t context, int64_t trained) {
  if (context <= trained) return;
  std::fprintf(stderr,
               "favor %s: warning: context %lld is longer than the %lld tokens the model was "
               "trained on; past position %lld the model's position encoding is outside what it "
               "learned and text may degrade (a limit of the model, not of the attention)\n",
               command.c_str(), static_cast<long long>(context), static_cast<long long>(trained),
               static_cast<long long>(trained));
}

}  // namespace favor::cli
