// GGUF reader, versions 1 to 3. Version 1 stores counts, string lengths and dimensions in 32
// bits; 2 and 3 in 64 bits (3 differs from 2 only in allowing big-endian files, which we refuse).
// Tensor data is memory-mapped: every tensor is a view into the file, in its stored type.
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/half.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/byte_reader.h"
#include "engine/io/gguf_file.h"
#include "engine/io/model_file.h"

namespace favor::io {
namespace {

// A metadata value: a scalar number, a string, or an array of numbers or strings.
using Value = GgufValue;

class GgufParser {
 public:
  GgufParser(std::span<const std::byte> data, std::string path)
      : reader_(data, path), path_(std::move(path)) {}

  absl::Status ReadHeader() {
    FAVOR_ASSIGN_OR_RETURN(const uint32_t magic, reader_.Read<uint32_t>("magic"));
    if (magic != 0x46554747u) return reader_.Error("not a GGUF file (bad magic)");
    FAVOR_ASSIGN_OR_RETURN(version_, reader_.Read<uint32_t>("version"));
    if (version_ < 1 || version_ > 3) {
      if ((version_ & 0xffff) == 0 && version_ != 0) {
        return reader_.Error("big-endian GGUF files are not supported");
      }
      return reader_.Error(absl::StrCat("unsupported GGUF version ", version_));
    }
    FAVOR_ASSIGN_OR_RETURN(tensor_count_, ReadCount("tensor count"));
    FAVOR_ASSIGN_OR_RETURN(kv_count_, ReadCount("metadata count"));
    // Every entry takes several bytes: a count beyond the file size is corrupt; refuse it before
    // allocating anything for it.
    if (tensor_count_ > reader_.remaining() / 8 || kv_count_ > reader_.remaining() / 8) {
      return reader_.Error(absl::StrCat("absurd counts: ", tensor_count_, " tensors, ", kv_count_,
                                        " metadata entries"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadMetadata() {
    for (uint64_t i = 0; i < kv_count_; ++i) {
      FAVOR_ASSIGN_OR_RETURN(std::string key, ReadString("metadata key"));
      FAVOR_ASSIGN_OR_RETURN(const uint32_t type, reader_.Read<uint32_t>("metadata type"));
      FAVOR_ASSIGN_OR_RETURN(Value value, ReadValue(type, key, 0));
      metadata_.emplace_back(std::move(key), std::move(value));
    }
    return absl::OkStatus();
  }

  const Value* Find(absl::string_view key) const {
    for (const auto& [k, v] : metadata_) {
      if (k == key) return &v;
    }
    return nullptr;
  }

  absl::StatusOr<int64_t> Integer(absl::string_view key, std::optional<int64_t> fallback) const {
    const Value* v = Find(key);
    if (v == nullptr) {
      if (fallback.has_value()) return *fallback;
      return absl::NotFoundError(absl::StrCat(path_, ": missing metadata '", key, "'"));
    }
    if (!v->is_integer) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": metadata '", key, "' is not an integer"));
    }
    return v->integer;
  }

  absl::StatusOr<double> Real(absl::string_view key, double fallback) const {
    const Value* v = Find(key);
    if (v == nullptr) return fallback;
    if (v->type != kFloat32 && v->type != kFloat64 && !v->is_integer) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": metadata '", key, "' is not a number"));
    }
    return v->number;
  }

  // The tensors in file order, as views into `file` (each checked: type, shape, bounds).
  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> ReadTensors(
      const std::shared_ptr<const Storage>& file) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::set<std::string> names;
    struct Info {
      std::string name;
      std::vector<int64_t> dims;  // Outermost first.
      uint32_t type;
      uint64_t offset;
    };
    std::vector<Info> infos;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      Info info;
      FAVOR_ASSIGN_OR_RETURN(info.name, ReadString("tensor name"));
      FAVOR_ASSIGN_OR_RETURN(const uint32_t n_dims, reader_.Read<uint32_t>("tensor rank"));
      if (n_dims == 0 || n_dims > 4) {
        return reader_.Error(absl::StrCat("tensor '", info.name, "' has rank ", n_dims));
      }
      info.dims.resize(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) {
        FAVOR_ASSIGN_OR_RETURN(const uint64_t dim, ReadCount("tensor dimension"));
        if (dim == 0 || dim > (uint64_t{1} << 32)) {
          return reader_.Error(absl::StrCat("tensor '", info.name, "' has dimension ", dim));
        }
        info.dims[n_dims - 1 - d] = static_cast<int64_t>(dim);  // GGML lists innermost first.
      }
      FAVOR_ASSIGN_OR_RETURN(info.type, reader_.Read<uint32_t>("tensor type"));
      FAVOR_ASSIGN_OR_RETURN(info.offset, reader_.Read<uint64_t>("tensor offset"));
      infos.push_back(std::move(info));
    }
    FAVOR_ASSIGN_OR_RETURN(const int64_t alignment, Integer("general.alignment", 32));
    if (alignment <= 0 || alignment > 65536 || (alignment & (alignment - 1)) != 0) {
      return reader_.Error(absl::StrCat("invalid general.alignment ", alignment));
    }
    const uint64_t data_start = (reader_.offset() + static_cast<uint64_t>(alignment) - 1) /
                                static_cast<uint64_t>(alignment) * static_cast<uint64_t>(alignment);
    const uint64_t file_size = reader_.size();
    for (const Info& info : infos) {
      const std::string what = absl::StrCat(path_, ": tensor '", info.name, "'");
      FAVOR_ASSIGN_OR_RETURN(const Shape shape,
                             Shape::Make(info.dims.data(), static_cast<int>(info.dims.size())));
      int64_t elements = 1;
      for (int64_t d : info.dims) {
        if (elements > (int64_t{1} << 40) / d) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": too many elements"));
        }
        elements *= d;
      }
      auto known = DTypeFromGgml(info.type);
      if (!known.ok()) return WithContext(known.status(), what);
      const DType dtype = *known;
      // Blocks never straddle rows: a row (the innermost dimension) holds whole blocks. A tensor
      // whose total is whole blocks but whose rows are not would be read across row boundaries.
      if (const int64_t block = GetDTypeInfo(dtype).block_elements; info.dims.back() % block != 0) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": ", info.dims.back(),
                                                       " elements per row, not a multiple of ",
                                                       DTypeName(dtype), "'s block of ", block));
      }
      auto bytes = BytesFor(dtype, elements);
      if (!bytes.ok()) return WithContext(bytes.status(), what);
      if (info.offset % static_cast<uint64_t>(alignment) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": offset ", info.offset, " is not aligned to ", alignment));
      }
      if (info.offset > file_size - data_start ||
          static_cast<uint64_t>(*bytes) > file_size - data_start - info.offset) {
        return absl::OutOfRangeError(absl::StrCat(what, ": data [", data_start + info.offset, ", +",
                                                  *bytes, ") is past the end of the file (",
                                                  file_size, " bytes)"));
      }
      FAVOR_ASSIGN_OR_RETURN(Tensor tensor,
                             ViewOrCopy(file, data_start + info.offset, dtype, shape));
      if (!names.insert(info.name).second) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate tensor name"));
      }
      tensors.emplace_back(info.name, std::move(tensor));
    }
    return tensors;
  }

  uint32_t version() const { return version_; }
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }

 private:
  absl::StatusOr<uint64_t> ReadCount(absl::string_view what) {
    if (version_ == 1) {
      FAVOR_ASSIGN_OR_RETURN(const uint32_t count, reader_.Read<uint32_t>(what));
      return count;
    }
    return reader_.Read<uint64_t>(what);
  }

  absl::StatusOr<std::string> ReadString(absl::string_view what) {
    FAVOR_ASSIGN_OR_RETURN(const uint64_t length, ReadCount(what));
    return reader_.ReadString(length, what);
  }

  absl::StatusOr<Value> ReadValue(uint32_t type, const std::string& key, int depth) {
    Value v;
    v.type = type;
    auto integer = [&](auto raw) {
      v.is_integer = true;
      v.integer = static_cast<int64_t>(raw);
      v.number = static_cast<double>(raw);
    };
    switch (type) {
      case kUint8: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<uint8_t>(key));
        integer(x);
        break;
      }
      case kInt8: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<int8_t>(key));
        integer(x);
        break;
      }
      case kUint16: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<uint16_t>(key));
        integer(x);
        break;
      }
      case kInt16: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<int16_t>(key));
        integer(x);
        break;
      }
      case kUint32: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<uint32_t>(key));
        integer(x);
        break;
      }
      case kInt32: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<int32_t>(key));
        integer(x);
        break;
      }
      case kUint64: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<uint64_t>(key));
        integer(x);
        break;
      }
      case kInt64: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<int64_t>(key));
        integer(x);
        break;
      }
      case kBool: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<uint8_t>(key));
        integer(x != 0);
        break;
      }
      case kFloat32: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<float>(key));
        v.number = x;
        break;
      }
      case kFloat64: {
        FAVOR_ASSIGN_OR_RETURN(auto x, reader_.Read<double>(key));
        v.number = x;
        break;
      }
      case kString: {
        FAVOR_ASSIGN_OR_RETURN(v.text, ReadString(key));
        break;
      }
      case kArray: {
        if (depth > 0) return reader_.Error(absl::StrCat("metadata '", key, "': nested arrays"));
        FAVOR_ASSIGN_OR_RETURN(v.element_type, reader_.Read<uint32_t>(key));
        FAVOR_ASSIGN_OR_RETURN(v.array_length, ReadCount(key));
        if (v.array_length > reader_.remaining()) {
          return reader_.Error(absl::StrCat("truncated or corrupt: metadata '", key, "': array of ",
                                            v.array_length,
                                            " elements is longer than the rest of the file"));
        }
        for (uint64_t i = 0; i < v.array_length; ++i) {
          FAVOR_ASSIGN_OR_RETURN(Value element, ReadValue(v.element_type, key, depth + 1));
          if (v.element_type == kString) {
            v.strings.push_back(std::move(element.text));
          } else {
            v.numbers.push_back(element.number);
          }
        }
        break;
      }
      default:
        return reader_.Error(absl::StrCat("metadata '", key, "' has unknown type ", type));
    }
    return v;
  }

  ByteReader reader_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
};

std::string Printable(const Value& v) {
  if (v.type == kString) return v.text.size() > 80 ? v.text.substr(0, 77) + "..." : v.text;
  if (v.type == kArray) {
    return absl::StrCat("[", v.array_length, " ", v.element_type == kString ? "strings" : "numbers",
                        "]");
  }
  if (v.is_integer) return absl::StrCat(v.integer);
  return absl::StrCat(v.number);
}

// How GGUF names the subword models ("llama" is SentencePiece BPE, "gpt2" byte-level BPE).
struct GgufTokenizerModel {
  absl::string_view name;
  VocabularyModel model;
  int32_t default_bos, default_eos, default_unk;
};
constexpr GgufTokenizerModel kGgufTokenizerModels[] = {
    {"llama", VocabularyModel::kSentencePiece, 1, 2, 0},
    {"gpt2", VocabularyModel::kByteLevelBpe, 11, 11, -1},
};

// "a b" as GGUF stores a merge; the first piece may itself be a space-free run that starts with
// anything, so the separator is the first space after the first character.
absl::StatusOr<std::pair<std::string, std::string>> SplitMerge(const std::string& merge,
                                                               size_t index,
                                                               const std::string& path) {
  const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
  if (space == std::string::npos || space + 1 >= merge.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tokenizer merge ", index, " ('", merge, "') is not two pieces"));
  }
  return std::make_pair(merge.substr(0, space), merge.substr(space + 1));
}

absl::StatusOr<Vocabulary> ReadVocabulary(const GgufParser& gguf, const std::string& path) {
  const Value* model = gguf.Find("tokenizer.ggml.model");
  const Value* tokens = gguf.Find("tokenizer.ggml.tokens");
  if (model == nullptr || tokens == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": no tokenizer in the GGUF metadata"));
  }
  const GgufTokenizerModel* kind = nullptr;
  for (const GgufTokenizerModel& row : kGgufTokenizerModels) {
    if (row.name == model->text) kind = &row;
  }
  if (kind == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": tokenizer model '", model->text,
                     "' is not supported ('llama': SentencePiece BPE, 'gpt2': byte-level BPE)"));
  }
  Vocabulary vocab;
  vocab.origin = "gguf";
  vocab.model = kind->model;
  vocab.pieces = tokens->strings;
  const size_t n = vocab.pieces.size();
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": the vocabulary is empty"));
  const Value* scores = gguf.Find("tokenizer.ggml.scores");
  const Value* types = gguf.Find("tokenizer.ggml.token_type");
  if ((scores != nullptr && scores->numbers.size() != n) ||
      (types != nullptr && types->numbers.size() != n)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tokenizer scores or types do not match the ", n, " tokens"));
  }
  for (size_t i = 0; i < n; ++i) {
    // Compared as doubles before any conversion: casting an out-of-range double is undefined.
    const double score = scores != nullptr ? scores->numbers[i] : 0.0;
    if (!(std::fabs(score) <= 1e30)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tokenizer score of token ", i, " is ", score));
    }
    vocab.scores.push_back(static_cast<float>(score));
    const double type = types != nullptr ? types->numbers[i] : 1.0;
    vocab.types.push_back(type >= 1.0 && type <= 6.0
                              ? static_cast<PieceType>(static_cast<int>(type))
                              : PieceType::kNormal);
  }
  if (vocab.model == VocabularyModel::kByteLevelBpe) {
    const Value* merges = gguf.Find("tokenizer.ggml.merges");
    if (merges == nullptr || merges->strings.size() != merges->array_length) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": a byte-level BPE vocabulary without tokenizer.ggml.merges"));
    }
    vocab.merges.reserve(merges->strings.size());
    for (size_t i = 0; i < merges->strings.size(); ++i) {
      FAVOR_ASSIGN_OR_RETURN(auto merge, SplitMerge(merges->strings[i], i, path));
      vocab.merges.push_back(std::move(merge));
    }
    const Value* pre = gguf.Find("tokenizer.ggml.pre");
    vocab.pre_tokenizer_name = pre != nullptr && !pre->text.empty() ? pre->text : "default";
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t bos,
                         gguf.Integer("tokenizer.ggml.bos_token_id", kind->default_bos));
  FAVOR_ASSIGN_OR_RETURN(const int64_t eos,
                         gguf.Integer("tokenizer.ggml.eos_token_id", kind->default_eos));
  FAVOR_ASSIGN_OR_RETURN(const int64_t unk,
                         gguf.Integer("tokenizer.ggml.unknown_token_id", kind->default_unk));
  for (int64_t id : {bos, eos}) {
    if (id < 0 || id >= static_cast<int64_t>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": special token id ", id, " outside the vocabulary of ", n));
    }
  }
  if (unk < -1 || unk >= static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown-token id ", unk, " outside the vocabulary of ", n));
  }
  vocab.bos_id = static_cast<int32_t>(bos);
  vocab.eos_id = static_cast<int32_t>(eos);
  vocab.unk_id = static_cast<int32_t>(unk);
  // End of turn and end of message (Llama 3.1's tool calls) end a generation as EOS does.
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    FAVOR_ASSIGN_OR_RETURN(const int64_t id, gguf.Integer(key, -1));
    if (id >= static_cast<int64_t>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", key, " ", id, " outside the vocabulary of ", n));
    }
    if (id >= 0) vocab.end_of_generation.push_back(static_cast<int32_t>(id));
  }
  // GGUF keeps no lstrip/rstrip flags. Phi-3's tokenizer.json gives its special tokens rstrip (the
  // whitespace after "<|end|>" is the token's), except <unk>, <s> and <|endoftext|>; llama.cpp
  // restores that by the model's name, and so do we, so that both tokenize alike.
  const Value* architecture = gguf.Find("general.architecture");
  const Value* name = gguf.Find("general.name");
  std::string model_name = name != nullptr ? name->text : "";
  for (char& c : model_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if ((architecture != nullptr && architecture->text == "phi3") ||
      model_name.find("phi-3") != std::string::npos ||
      model_name.find("phi3") != std::string::npos) {
    for (size_t id = 0; id < n; ++id) {
      const std::string& piece = vocab.pieces[id];
      const bool special =
          vocab.types[id] == PieceType::kControl || vocab.types[id] == PieceType::kUserDefined;
      if ((special || piece == "</s>") && piece != "<unk>" && piece != "<s>" &&
          piece != "<|endoftext|>") {
        vocab.strip_right.push_back(static_cast<int32_t>(id));
      }
    }
  }
  // Unsaid, the tokenizer decides (llama.cpp's defaults: SentencePiece vocabularies start with
  // BOS, byte-level ones as their pre-tokenizer's family does).
  if (const Value* add_bos = gguf.Find("tokenizer.ggml.add_bos_token")) {
    if (!add_bos->is_integer) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": metadata 'tokenizer.ggml.add_bos_token' is not a boolean"));
    }
    vocab.add_bos = add_bos->integer != 0;
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t add_eos, gguf.Integer("tokenizer.ggml.add_eos_token", 0));
  vocab.add_eos = add_eos != 0;
  // Whether SentencePiece puts a space before the text (Gemma 3 does not).
  FAVOR_ASSIGN_OR_RETURN(const int64_t add_space_prefix,
                         gguf.Integer("tokenizer.ggml.add_space_prefix", 1));
  vocab.add_dummy_prefix = add_space_prefix != 0;
  if (const Value* chat_template = gguf.Find("tokenizer.chat_template");
      chat_template != nullptr && chat_template->type == kString) {
    vocab.chat_template = chat_template->text;
  }
  return vocab;
}

}  // namespace

absl::StatusOr<ModelFile> LoadGguf(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseGguf(std::move(file), path);
}

absl::StatusOr<ModelFile> ParseGguf(std::shared_ptr<const Storage> file, const std::string& path) {
  GgufParser gguf({file->data(), file->size()}, path);
  FAVOR_RETURN_IF_ERROR(gguf.ReadHeader());
  FAVOR_RETURN_IF_ERROR(gguf.ReadMetadata());
  ModelFile model;
  model.path = path;
  model.format = absl::StrCat("GGUF v", gguf.version());
  model.gguf = true;
  for (const auto& [key, value] : gguf.metadata())
    model.metadata.emplace_back(key, Printable(value));
  FAVOR_ASSIGN_OR_RETURN(auto tensors, gguf.ReadTensors(file));
  for (auto& [name, tensor] : tensors) model.tensors.emplace(name, std::move(tensor));

  const Value* arch = gguf.Find("general.architecture");
  if (arch == nullptr) return absl::NotFoundError(absl::StrCat(path, ": no general.architecture"));
  ModelConfig& c = model.config;
  c.architecture = arch->text;
  const std::string a = arch->text + ".";
  FAVOR_ASSIGN_OR_RETURN(c.dim, gguf.Integer(a + "embedding_length", std::nullopt));
  FAVOR_ASSIGN_OR_RETURN(c.n_layers, gguf.Integer(a + "block_count", std::nullopt));
  FAVOR_ASSIGN_OR_RETURN(c.hidden_dim, gguf.Integer(a + "feed_forward_length", std::nullopt));
  FAVOR_ASSIGN_OR_RETURN(c.n_heads, gguf.Integer(a + "attention.head_count", std::nullopt));
  FAVOR_ASSIGN_OR_RETURN(c.n_kv_heads, gguf.Integer(a + "attention.head_count_kv", c.n_heads));
  FAVOR_ASSIGN_OR_RETURN(c.max_seq_len, gguf.Integer(a + "context_length", 2048));
  // RMSNorm models give layer_norm_rms_epsilon, LayerNorm ones (GPT-2) layer_norm_epsilon.
  FAVOR_ASSIGN_OR_RETURN(const double layer_norm_eps,
                         gguf.Real(a + "attention.layer_norm_epsilon", 1e-5));
  FAVOR_ASSIGN_OR_RETURN(const double eps,
                         gguf.Real(a + "attention.layer_norm_rms_epsilon", layer_norm_eps));
  if (!(eps > 0.0 && eps < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid rms eps ", eps));
  }
  c.norm_eps = static_cast<float>(eps);
  FAVOR_ASSIGN_OR_RETURN(c.attention_head_dim, gguf.Integer(a + "attention.key_length", 0));
  FAVOR_ASSIGN_OR_RETURN(c.rope_theta, gguf.Real(a + "rope.freq_base", 10000.0));
  // Attention traits some architectures have (Mistral, Phi-3, Gemma 2); which layers the window
  // applies to is the architecture's (models/architecture.cc).
  FAVOR_ASSIGN_OR_RETURN(c.sliding_window, gguf.Integer(a + "attention.sliding_window", 0));
  FAVOR_ASSIGN_OR_RETURN(const double attention_cap, gguf.Real(a + "attn_logit_softcapping", 0.0));
  FAVOR_ASSIGN_OR_RETURN(const double final_cap, gguf.Real(a + "final_logit_softcapping", 0.0));
  c.attention_soft_cap = static_cast<float>(attention_cap);
  c.final_soft_cap = static_cast<float>(final_cap);
  c.rotary_pairs = RotaryPairs::kAdjacent;  // GGUF's converter permutes q/k rows for it.
  if (model.tensors.empty() && gguf.Find("tokenizer.ggml.tokens") != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is a vocabulary-only GGUF (no tensors): it serves favor tokenize -m and --tokenizer, "
        "not as a model"));
  }
  auto embedding = model.tensors.find("token_embd.weight");
  if (embedding == model.tensors.end() || embedding->second.rank() != 2) {
    return absl::NotFoundError(absl::StrCat(path, ": missing tensor 'token_embd.weight'"));
  }
  c.vocab_size = embedding->second.dim(0);
  c.tied_embeddings = model.tensors.find("output.weight") == model.tensors.end();
  FAVOR_RETURN_IF_ERROR(c.Validate(path));
  // RoPE scaling: Llama 3's comes as the rope_freqs tensor; linear scaling as metadata, turned into
  // the same per-frequency divisors. Others would run wrongly: refused by name.
  if (const Value* scaling = gguf.Find(a + "rope.scaling.type");
      scaling != nullptr && scaling->text != "none") {
    if (scaling->text != "linear") {
      return absl::UnimplementedError(absl::StrCat(path, ": rope scaling '", scaling->text,
                                                   "' is not supported (linear; Llama 3's "
                                                   "rope_freqs)"));
    }
    FAVOR_ASSIGN_OR_RETURN(const double factor, gguf.Real(a + "rope.scaling.factor", 1.0));
    if (!(factor > 0.0 && factor < 1e6)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": rope scaling factor ", factor));
    }
    if (model.tensors.count("rope_freqs.weight") == 0 && factor != 1.0) {
      FAVOR_ASSIGN_OR_RETURN(Tensor factors,
                             Tensor::Allocate(DType::kF32, Shape{c.head_dim() / 2}));
      for (int64_t i = 0; i < c.head_dim() / 2; ++i) {
        factors.mutable_data<float>()[i] = static_cast<float>(factor);
      }
      model.tensors["rope_freqs.weight"] = std::move(factors);
    }
  }
  // Longrope (Phi-3.5): divisors for contexts up to the original one (short) and beyond (long),
  // and an attention factor. The short ones serve every context up to the original, as in
  // llama.cpp and transformers; the context is limited to it, since the long ones (which both
  // switch to past it) are not applied yet.
  if (auto short_factors = model.tensors.find("rope_factors_short.weight");
      short_factors != model.tensors.end()) {
    if (model.tensors.count("rope_freqs.weight") == 0) {
      model.tensors["rope_freqs.weight"] = short_factors->second;
    }
    model.tensors.erase("rope_factors_short.weight");
    model.tensors.erase("rope_factors_long.weight");
    FAVOR_ASSIGN_OR_RETURN(const int64_t original,
                           gguf.Integer(a + "rope.scaling.original_context_length", c.max_seq_len));
    if (original > 0 && original < c.max_seq_len) c.max_seq_len = original;
    FAVOR_ASSIGN_OR_RETURN(c.rope_attention_factor, gguf.Real(a + "rope.scaling.attn_factor", 1.0));
    FAVOR_RETURN_IF_ERROR(c.Validate(path));
  }
  if (gguf.Find("tokenizer.ggml.tokens") != nullptr) {
    FAVOR_ASSIGN_OR_RETURN(model.vocabulary, ReadVocabulary(gguf, path));
  }
  return model;
}

absl::StatusOr<GgufContents> ReadGgufContents(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(std::shared_ptr<const Storage> file, MappedFile::Open(path));
  GgufParser gguf({file->data(), file->size()}, path);
  FAVOR_RETURN_IF_ERROR(gguf.ReadHeader());
  FAVOR_RETURN_IF_ERROR(gguf.ReadMetadata());
  GgufContents contents;
  contents.version = gguf.version();
  contents.metadata = gguf.metadata();
  FAVOR_ASSIGN_OR_RETURN(contents.tensors, gguf.ReadTensors(file));
  return contents;
}

absl::StatusOr<Vocabulary> LoadGgufVocabulary(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseGgufVocabulary(*file, path);
}

absl::StatusOr<Vocabulary> ParseGgufVocabulary(const Storage& file, const std::string& path) {
  GgufParser gguf({file.data(), file.size()}, path);
  FAVOR_RETURN_IF_ERROR(gguf.ReadHeader());
  FAVOR_RETURN_IF_ERROR(gguf.ReadMetadata());
  return ReadVocabulary(gguf, path);
}

}  // namespace favor::io
