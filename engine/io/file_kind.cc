#include "engine/io/file_kind.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string_view>

namespace favor::io {
namespace {

// Enough of a file to tell JSON files apart by their keys (tokenizer.json puts "added_tokens",
// "normalizer" and "pre_tokenizer" before its large vocabulary).
constexpr size_t kSniffBytes = 64 * 1024;

std::string ReadPrefix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(kSniffBytes, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

template <typename T>
T Load(const std::string& bytes, size_t offset) {
  T value{};
  if (offset + sizeof(T) <= bytes.size()) std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

bool Contains(std::string_view text, std::string_view key) {
  return text.find(key) != std::string_view::npos;
}

FileKind ClassifyJson(std::string_view json) {
  if (Contains(json, "\"weight_map\"")) return FileKind::kSafetensorsIndex;
  if (Contains(json, "\"model_type\"") || Contains(json, "\"architectures\"")) {
    return FileKind::kHuggingFaceConfig;
  }
  if (Contains(json, "\"added_tokens\"") || Contains(json, "\"pre_tokenizer\"") ||
      Contains(json, "\"merges\"")) {
    return FileKind::kTokenizerJson;
  }
  if (Contains(json, "\"tokenizer_class\"") || Contains(json, "\"bos_token\"") ||
      Contains(json, "\"chat_template\"") || Contains(json, "\"bos_token_id\"")) {
    return FileKind::kTokenizerConfig;
  }
  return FileKind::kOtherJson;
}

// A safetensors file: an 8-byte little-endian header length, then that much JSON.
bool IsSafetensors(const std::string& bytes, uint64_t file_size) {
  const auto header = Load<uint64_t>(bytes, 0);
  return bytes.size() > 8 && bytes[8] == '{' && header >= 2 && header <= file_size - 8;
}

// A serialized SentencePiece ModelProto starts with its first piece: field 1 (length-delimited),
// a varint length, and inside it field 1 again (the piece string).
bool IsSentencePieceModel(const std::string& bytes) {
  if (bytes.size() < 4 || bytes[0] != 0x0a) return false;
  size_t at = 1;
  uint64_t length = 0;
  for (int shift = 0; at < bytes.size() && shift < 35; shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[at++]);
    length |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  return length >= 2 && at < bytes.size() && bytes[at] == 0x0a;
}

// llama2.c's legacy header has no magic: seven int32 that must describe a plausible model.
bool IsLegacyLlama2c(const std::string& bytes) {
  if (bytes.size() < 28) return false;
  const auto dim = Load<int32_t>(bytes, 0), hidden = Load<int32_t>(bytes, 4),
             layers = Load<int32_t>(bytes, 8), heads = Load<int32_t>(bytes, 12),
             kv_heads = Load<int32_t>(bytes, 16), vocab = Load<int32_t>(bytes, 20),
             context = Load<int32_t>(bytes, 24);
  return dim > 0 && dim <= (1 << 20) && hidden > 0 && hidden <= (1 << 24) && layers > 0 &&
         layers <= 1024 && heads > 0 && heads <= dim && dim % heads == 0 && kv_heads > 0 &&
         kv_heads <= heads && vocab != 0 && vocab > -(1 << 22) && vocab < (1 << 22) &&
         context > 0 && context <= (1 << 24);
}

// llama2.c's tokenizer.bin: the longest token's length, then per token a float score, an int32
// length and the bytes.
bool IsLlama2cTokenizer(const std::string& bytes) {
  const auto max_length = Load<int32_t>(bytes, 0);
  if (bytes.size() < 12 || max_length <= 0 || max_length > 4096) return false;
  size_t at = 4;
  for (int token = 0; token < 3 && at + 8 <= bytes.size(); ++token) {
    const auto score = Load<float>(bytes, at);
    const auto length = Load<int32_t>(bytes, at + 4);
    if (!std::isfinite(score) || length < 0 || length > max_length) return false;
    at += 8 + static_cast<size_t>(length);
  }
  return true;
}

bool IsText(const std::string& bytes) {
  if (bytes.empty()) return false;
  for (const char c : bytes) {
    const auto byte = static_cast<uint8_t>(c);
    if (byte < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
  }
  return true;
}

}  // namespace

FileKind IdentifyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileKind::kMissing;
  if (S_ISDIR(st.st_mode)) return FileKind::kDirectory;
  const std::string bytes = ReadPrefix(path);
  const std::string_view head(bytes.data(), std::min<size_t>(bytes.size(), 4));
  if (head == "GGUF") return FileKind::kGguf;
  if (head == "ak42" || head == "24ka") return FileKind::kLlama2cCheckpoint;
  if (head == "FAVC") return FileKind::kFavorStatistics;
  if (IsSafetensors(bytes, static_cast<uint64_t>(st.st_size))) return FileKind::kSafetensors;
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && bytes[first] == '{') return ClassifyJson(bytes);
  if (IsSentencePieceModel(bytes)) return FileKind::kSentencePieceModel;
  if (IsLegacyLlama2c(bytes)) return FileKind::kLlama2cCheckpoint;
  if (IsLlama2cTokenizer(bytes)) return FileKind::kLlama2cTokenizer;
  if (IsText(bytes)) return FileKind::kText;
  return FileKind::kUnknown;
}

const char* FileKindDescription(FileKind kind) {
  switch (kind) {
    case FileKind::kMissing:
      return "a path that does not exist";
    case FileKind::kDirectory:
      return "a directory";
    case FileKind::kGguf:
      return "a GGUF model";
    case FileKind::kSafetensors:
      return "a safetensors weights file";
    case FileKind::kLlama2cCheckpoint:
      return "a llama2.c checkpoint";
    case FileKind::kHuggingFaceConfig:
      return "a Hugging Face config.json";
    case FileKind::kSafetensorsIndex:
      return "a safetensors index (model.safetensors.index.json)";
    case FileKind::kTokenizerJson:
      return "a Hugging Face tokenizer.json";
    case FileKind::kTokenizerConfig:
      return "a Hugging Face tokenizer or generation config";
    case FileKind::kOtherJson:
      return "a JSON file";
    case FileKind::kSentencePieceModel:
      return "a SentencePiece tokenizer model";
    case FileKind::kLlama2cTokenizer:
      return "a llama2.c tokenizer (tokenizer.bin)";
    case FileKind::kFavorStatistics:
      return "a FAVOR statistics file (written by favor calibrate)";
    case FileKind::kText:
      return "a text file";
    case FileKind::kUnknown:
      return "a file of unknown format";
  }
  return "a file of unknown format";
}

}  // namespace favor::io
