#include "engine/io/tokenizer_json.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"

namespace favor::io {
namespace {

// The U+2581 that SentencePiece-style vocabularies put for a space.
constexpr absl::string_view kSpaceMark = "\xe2\x96\x81";

std::string TypeOf(const Json* component) {
  if (component == nullptr || component->is_null()) return "";
  const Json* type = component->Find("type");
  return type != nullptr && type->is_string() ? type->string() : "?";
}

// The components of a Sequence, flattened (or the component itself).
void AppendSteps(const Json* component, std::vector<const Json*>& steps) {
  if (TypeOf(component) != "Sequence") {
    steps.push_back(component);
    return;
  }
  for (const char* key : {"normalizers", "pretokenizers", "decoders", "processors"}) {
    if (const Json* list = component->Find(key); list != nullptr && list->is_array()) {
      for (const Json& step : list->array()) AppendSteps(&step, steps);
    }
  }
}

std::vector<const Json*> Steps(const Json* component) {
  std::vector<const Json*> steps;
  AppendSteps(component, steps);
  return steps;
}

bool HasStep(const Json* component, absl::string_view type) {
  for (const Json* step : Steps(component)) {
    if (TypeOf(step) == type) return true;
  }
  return false;
}

bool StringPattern(const Json& step, absl::string_view pattern, absl::string_view content) {
  const Json* p = step.Find("pattern");
  const Json* string = p != nullptr ? p->Find("String") : nullptr;
  const Json* c = step.Find("content");
  return string != nullptr && string->is_string() && string->string() == pattern && c != nullptr &&
         c->is_string() && c->string() == content;
}

bool BoolMember(const Json& object, absl::string_view key, bool fallback) {
  const Json* value = object.Find(key);
  return value != nullptr && value->is_bool() ? value->bool_value() : fallback;
}

absl::Status Unsupported(const std::string& path, absl::string_view what, absl::string_view type,
                         absl::string_view supported) {
  return absl::UnimplementedError(
      absl::StrCat(path, ": ", what, " '", type, "' is not supported (", supported, ")"));
}

// The SentencePiece model the vocabulary becomes splits on spaces marked U+2581, with or without
// a dummy prefix, and decodes them back, and nothing else: a tokenizer.json whose normalizer,
// pre-tokenizer or decoder does more would be approximated silently, so it is refused by name.
// Returns whether the text gets a dummy prefix.
absl::StatusOr<bool> CheckSentencePieceStyle(const Json& json, const std::string& path) {
  constexpr absl::string_view kSupported =
      "SentencePiece-style vocabularies: U+2581 for spaces, byte fallback";
  bool marks_spaces = false, prepends = false;
  for (const Json* step : Steps(json.Find("normalizer"))) {
    const std::string type = TypeOf(step);
    if (type.empty()) continue;
    if (type == "Prepend" && step->Find("prepend") != nullptr &&
        step->Find("prepend")->string() == kSpaceMark) {
      prepends = true;
    } else if (type == "Replace" && StringPattern(*step, " ", kSpaceMark)) {
      marks_spaces = true;
    } else {
      return Unsupported(path, "normalizer", type, kSupported);
    }
  }
  for (const Json* step : Steps(json.Find("pre_tokenizer"))) {
    const std::string type = TypeOf(step);
    if (type.empty()) continue;
    if (type == "Split" && marks_spaces) {
      // Gemma 3 splits on " " after its normalizer replaced every space: it never cuts.
      const Json* pattern = step->Find("pattern");
      const Json* literal = pattern != nullptr ? pattern->Find("String") : nullptr;
      if (literal != nullptr && literal->is_string() && literal->string() == " ") continue;
    }
    if (type != "Metaspace") return Unsupported(path, "pre-tokenizer", type, kSupported);
    const Json* scheme = step->Find("prepend_scheme");
    const Json* add_prefix = step->Find("add_prefix_space");
    prepends = (scheme != nullptr && scheme->is_string() && scheme->string() != "never") ||
               (scheme == nullptr && (add_prefix == nullptr || add_prefix->bool_value()));
    marks_spaces = true;
  }
  if (!marks_spaces) {
    return absl::UnimplementedError(
        absl::StrCat(path,
                     ": neither the normalizer nor the pre-tokenizer marks spaces with U+2581 "
                     "(SentencePiece-style vocabularies only)"));
  }
  for (const Json* step : Steps(json.Find("decoder"))) {
    const std::string type = TypeOf(step);
    if (type.empty() || type == "ByteFallback" || type == "Fuse" || type == "Metaspace") continue;
    if (type == "Replace" && StringPattern(*step, kSpaceMark, " ")) continue;
    if (type == "Strip" && step->Find("content") != nullptr &&
        step->Find("content")->string() == " ") {
      continue;
    }
    return Unsupported(path, "decoder", type, kSupported);
  }
  return prepends;
}

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& step, const std::string& path) {
  static const std::pair<absl::string_view, SplitBehavior> kBehaviors[] = {
      {"Isolated", SplitBehavior::kIsolated},
      {"Removed", SplitBehavior::kRemoved},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous},
  };
  const Json* behavior = step.Find("behavior");
  const std::string name = behavior != nullptr && behavior->is_string() ? behavior->string() : "";
  for (const auto& [text, value] : kBehaviors) {
    if (text == name) return value;
  }
  return Unsupported(path, "Split behavior", name,
                     "Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous");
}

// A byte-level vocabulary's pre-tokenizer as steps.
absl::StatusOr<std::vector<PreTokenizerStep>> ParseByteLevelPreTokenizer(const Json* component,
                                                                         const std::string& path) {
  constexpr absl::string_view kSupported =
      "ByteLevel, Split, Digits, Whitespace, WhitespaceSplit, Punctuation, Sequence";
  std::vector<PreTokenizerStep> steps;
  for (const Json* json : Steps(component)) {
    const std::string type = TypeOf(json);
    if (type.empty()) continue;
    PreTokenizerStep step;
    if (type == "ByteLevel") {
      step.kind = PreTokenizerStep::Kind::kByteLevel;
      step.add_prefix_space = BoolMember(*json, "add_prefix_space", false);
      step.use_regex = BoolMember(*json, "use_regex", true);
    } else if (type == "Split") {
      const Json* pattern = json->Find("pattern");
      const Json* regex = pattern != nullptr ? pattern->Find("Regex") : nullptr;
      const Json* literal = pattern != nullptr ? pattern->Find("String") : nullptr;
      if (regex != nullptr && regex->is_string()) {
        step.pattern = regex->string();
      } else if (literal != nullptr && literal->is_string()) {
        step.pattern = literal->string();
        step.pattern_is_regex = false;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": a Split pre-tokenizer without a Regex or String pattern"));
      }
      if (step.pattern.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": a Split with an empty pattern"));
      }
      FAVOR_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(*json, path));
      step.invert = BoolMember(*json, "invert", false);
    } else if (type == "Digits") {
      step.kind = PreTokenizerStep::Kind::kDigits;
      step.individual_digits = BoolMember(*json, "individual_digits", false);
    } else if (type == "Whitespace") {
      // Words and runs of other non-space characters; spaces dropped.
      step.pattern = R"(\w+|[^\w\s]+)";
      step.behavior = SplitBehavior::kRemoved;
      step.invert = true;
    } else if (type == "WhitespaceSplit") {
      step.pattern = R"(\s+)";
      step.behavior = SplitBehavior::kRemoved;
    } else if (type == "Punctuation") {
      step.pattern = R"([\p{P}!-/:-@\[-`{-~])";
      FAVOR_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(*json, path));
    } else {
      return Unsupported(path, "pre-tokenizer", type, kSupported);
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

absl::StatusOr<std::vector<Normalization>> ParseNormalizer(const Json* component,
                                                           const std::string& path) {
  static const std::pair<absl::string_view, Normalization> kForms[] = {
      {"NFC", Normalization::kNfc},
      {"NFD", Normalization::kNfd},
      {"NFKC", Normalization::kNfkc},
      {"NFKD", Normalization::kNfkd},
  };
  std::vector<Normalization> normalizations;
  for (const Json* step : Steps(component)) {
    const std::string type = TypeOf(step);
    if (type.empty()) continue;
    bool known = false;
    for (const auto& [name, form] : kForms) {
      if (name == type) {
        normalizations.push_back(form);
        known = true;
      }
    }
    if (!known) return Unsupported(path, "normalizer", type, "NFC, NFD, NFKC, NFKD");
  }
  return normalizations;
}

// A token named by a config: a string, or an AddedToken object with "content".
std::string TokenText(const Json* value) {
  if (value == nullptr) return "";
  if (value->is_string()) return value->string();
  if (const Json* content = value->Find("content"); content != nullptr && content->is_string()) {
    return content->string();
  }
  return "";
}

// Ids a config gives for `key`: one integer or a list of them (generation_config.json lists every
// end-of-turn token of a chat model).
absl::StatusOr<std::vector<int64_t>> IdList(const Json& config, absl::string_view key,
                                            const std::string& path) {
  std::vector<int64_t> ids;
  const Json* value = config.Find(key);
  if (value == nullptr || value->is_null()) return ids;
  if (value->is_array()) {
    for (const Json& element : value->array()) {
      FAVOR_ASSIGN_OR_RETURN(const int64_t id, element.Int(absl::StrCat(path, ": '", key, "'")));
      ids.push_back(id);
    }
    return ids;
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t id, value->Int(absl::StrCat(path, ": '", key, "'")));
  ids.push_back(id);
  return ids;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseMerge(const Json& merge, size_t rank,
                                                               const std::string& path) {
  if (merge.is_string()) {
    const std::string& text = merge.string();
    const size_t space = text.size() > 1 ? text.find(' ', 1) : std::string::npos;
    if (space != std::string::npos && space + 1 < text.size() &&
        text.find(' ', space + 1) == std::string::npos) {
      return std::make_pair(text.substr(0, space), text.substr(space + 1));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": merge ", rank, " ('", text, "') is not two pieces"));
  }
  if (merge.is_array() && merge.array().size() == 2 && merge.array()[0].is_string() &&
      merge.array()[1].is_string() && !merge.array()[0].string().empty() &&
      !merge.array()[1].string().empty()) {
    return std::make_pair(merge.array()[0].string(), merge.array()[1].string());
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": merge ", rank, " is not two pieces"));
}

absl::StatusOr<Json> ReadJsonObjectIfPresent(const std::string& path) {
  if (!IsRegularFile(path)) return Json::Parse("{}", path);
  FAVOR_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(path));
  FAVOR_ASSIGN_OR_RETURN(Json json, Json::Parse(text, path));
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  return json;
}

}  // namespace

absl::StatusOr<Vocabulary> ParseTokenizerJson(absl::string_view text, const std::string& path,
                                              const TokenizerSidecars& sidecars) {
  FAVOR_ASSIGN_OR_RETURN(const Json json, Json::Parse(text, path));
  const Json* model = json.Find("model");
  if (model == nullptr || TypeOf(model) != "BPE") {
    return Unsupported(path, "tokenizer model", model == nullptr ? "none" : TypeOf(model), "BPE");
  }
  const bool byte_fallback = BoolMember(*model, "byte_fallback", false);
  const bool byte_level = !byte_fallback && (HasStep(json.Find("pre_tokenizer"), "ByteLevel") ||
                                             HasStep(json.Find("decoder"), "ByteLevel"));
  if (!byte_fallback && !byte_level) {
    return absl::UnimplementedError(
        absl::StrCat(path,
                     ": a BPE vocabulary with neither byte fallback (SentencePiece-style) nor a "
                     "ByteLevel pre-tokenizer or decoder (GPT-2-style) is not supported"));
  }
  const Json* vocab_json = model->Find("vocab");
  const Json* merges = model->Find("merges");
  if (vocab_json == nullptr || !vocab_json->is_object() || merges == nullptr ||
      !merges->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": missing BPE vocab or merges"));
  }

  // The pieces: the model's vocabulary, then added tokens (which may extend it: Llama 3's 256
  // special tokens are not in the model's vocabulary).
  Vocabulary vocab;
  vocab.origin = "tokenizer.json";
  vocab.model = byte_level ? VocabularyModel::kByteLevelBpe : VocabularyModel::kSentencePiece;
  const size_t base_size = vocab_json->object().size();
  std::vector<bool> seen;
  auto place = [&](int64_t id, const std::string& piece, PieceType type) -> absl::Status {
    // Bounded: a hostile file must not make us allocate for an id in the billions.
    if (id < 0 || id >= static_cast<int64_t>(base_size) + 1'000'000) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": token id ", id, " is out of range"));
    }
    const auto index = static_cast<size_t>(id);
    if (index >= vocab.pieces.size()) {
      vocab.pieces.resize(index + 1);
      vocab.types.resize(index + 1, PieceType::kUnused);
      seen.resize(index + 1, false);
    }
    vocab.pieces[index] = piece;
    vocab.types[index] = type;
    seen[index] = true;
    return absl::OkStatus();
  };
  std::map<std::string, int32_t, std::less<>> ids;
  for (const auto& [piece, id_json] : vocab_json->object()) {
    FAVOR_ASSIGN_OR_RETURN(const int64_t id, id_json.Int(absl::StrCat(path, ": token id")));
    if (id < 0 || id >= static_cast<int64_t>(base_size) ||
        (static_cast<size_t>(id) < seen.size() && seen[static_cast<size_t>(id)])) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": token ids are not 0..", base_size - 1));
    }
    const bool byte_piece =
        !byte_level && piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>';
    FAVOR_RETURN_IF_ERROR(place(id, piece, byte_piece ? PieceType::kByte : PieceType::kNormal));
    ids[piece] = static_cast<int32_t>(id);
  }
  if (const Json* added = json.Find("added_tokens"); added != nullptr && added->is_array()) {
    for (const Json& token : added->array()) {
      const Json* id_json = token.Find("id");
      const Json* content = token.Find("content");
      if (id_json == nullptr || content == nullptr || !content->is_string() ||
          content->string().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": an added token without an id or content"));
      }
      FAVOR_ASSIGN_OR_RETURN(const int64_t id, id_json->Int(absl::StrCat(path, ": added token")));
      const bool special = BoolMember(token, "special", false);
      FAVOR_RETURN_IF_ERROR(
          place(id, content->string(), special ? PieceType::kControl : PieceType::kUserDefined));
      ids[content->string()] = static_cast<int32_t>(id);
      if (BoolMember(token, "lstrip", false)) vocab.strip_left.push_back(static_cast<int32_t>(id));
      if (BoolMember(token, "rstrip", false)) vocab.strip_right.push_back(static_cast<int32_t>(id));
    }
  }
  const size_t n = vocab.pieces.size();
  for (size_t id = 0; id < n; ++id) {
    // Holes in the id range (ids no token has) are pieces no text becomes, named so that the
    // vocabulary's pieces stay distinct.
    if (!seen[id]) vocab.pieces[id] = absl::StrCat("<unused id ", id, ">");
  }
  vocab.scores.assign(n, 0.0f);

  if (byte_level) {
    vocab.merges.reserve(merges->array().size());
    for (size_t rank = 0; rank < merges->array().size(); ++rank) {
      FAVOR_ASSIGN_OR_RETURN(auto merge, ParseMerge(merges->array()[rank], rank, path));
      vocab.merges.push_back(std::move(merge));
    }
    vocab.ignore_merges = BoolMember(*model, "ignore_merges", false);
    FAVOR_ASSIGN_OR_RETURN(vocab.pre_tokenizer,
                           ParseByteLevelPreTokenizer(json.Find("pre_tokenizer"), path));
    FAVOR_ASSIGN_OR_RETURN(vocab.normalizers, ParseNormalizer(json.Find("normalizer"), path));
    for (const Json* step : Steps(json.Find("decoder"))) {
      const std::string type = TypeOf(step);
      if (!type.empty() && type != "ByteLevel") {
        return Unsupported(path, "decoder", type, "ByteLevel, for a byte-level vocabulary");
      }
    }
    vocab.unk_id = -1;
  } else {
    // SentencePiece-style: a piece made by merge number r gets score -r, so SentencePiece's
    // highest-score-first BPE applies the merges in the same order; pieces no merge makes
    // (single characters) rank below every merge result.
    const float base_score = -static_cast<float>(merges->array().size()) - 1.0f;
    for (size_t i = 0; i < n; ++i) vocab.scores[i] = base_score;
    for (size_t rank = 0; rank < merges->array().size(); ++rank) {
      FAVOR_ASSIGN_OR_RETURN(const auto merge, ParseMerge(merges->array()[rank], rank, path));
      auto it = ids.find(merge.first + merge.second);
      if (it == ids.end()) continue;
      float& score = vocab.scores[static_cast<size_t>(it->second)];
      score = std::max(score, -static_cast<float>(rank));
    }
    vocab.unk_id = 0;
    if (const Json* unk = model->Find("unk_token"); unk != nullptr && unk->is_string()) {
      if (auto it = ids.find(unk->string()); it != ids.end()) {
        vocab.unk_id = it->second;
        vocab.types[static_cast<size_t>(it->second)] = PieceType::kUnknown;
      }
    }
    FAVOR_ASSIGN_OR_RETURN(vocab.add_dummy_prefix, CheckSentencePieceStyle(json, path));
  }

  // BOS and EOS: by name in tokenizer_config.json, else by id in config.json /
  // generation_config.json; every EOS id listed ends a generation.
  auto id_of = [&](const std::string& token) -> int64_t {
    auto it = ids.find(token);
    return it == ids.end() ? -1 : it->second;
  };
  const Json& tokenizer_config = sidecars.tokenizer_config;
  int64_t bos = id_of(TokenText(tokenizer_config.Find("bos_token")));
  int64_t eos = id_of(TokenText(tokenizer_config.Find("eos_token")));
  std::vector<int64_t> more_eos;
  for (const Json* config : {&sidecars.generation_config, &sidecars.config}) {
    FAVOR_ASSIGN_OR_RETURN(const std::vector<int64_t> bos_ids,
                           IdList(*config, "bos_token_id", path));
    FAVOR_ASSIGN_OR_RETURN(const std::vector<int64_t> eos_ids,
                           IdList(*config, "eos_token_id", path));
    if (bos < 0 && !bos_ids.empty()) bos = bos_ids.front();
    if (eos < 0 && !eos_ids.empty()) eos = eos_ids.front();
    more_eos.insert(more_eos.end(), eos_ids.begin(), eos_ids.end());
  }
  if (byte_level) {
    // Byte-level vocabularies often have no BOS (Qwen) and say EOS only by name.
    if (eos < 0) eos = id_of("<|endoftext|>");
    if (eos < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": no EOS token (tokenizer_config.json eos_token or config.json eos_token_id)"));
    }
    if (bos < 0) bos = eos;
  } else {
    if (bos < 0) bos = 1;
    if (eos < 0) eos = 2;
  }
  for (const int64_t id : more_eos) {
    if (id < 0 || id >= static_cast<int64_t>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": EOS id ", id, " outside the vocabulary of ", n));
    }
    vocab.end_of_generation.push_back(static_cast<int32_t>(id));
  }
  if (bos < 0 || bos >= static_cast<int64_t>(n) || eos < 0 || eos >= static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bos/eos ids (", bos, ", ", eos, ") outside the vocabulary of ", n));
  }
  vocab.bos_id = static_cast<int32_t>(bos);
  vocab.eos_id = static_cast<int32_t>(eos);

  // Whether prompts start with BOS: tokenizer_config.json says, else a template post-processor
  // that starts with a special token does; byte-level vocabularies otherwise do not.
  if (const Json* add_bos = tokenizer_config.Find("add_bos_token");
      add_bos != nullptr && add_bos->is_bool()) {
    vocab.add_bos = add_bos->bool_value();
  } else {
    for (const Json* step : Steps(json.Find("post_processor"))) {
      const Json* single = step != nullptr ? step->Find("single") : nullptr;
      if (single == nullptr) continue;
      vocab.add_bos = single->is_array() && !single->array().empty() &&
                      single->array()[0].Find("SpecialToken") != nullptr;
    }
    if (!vocab.add_bos.has_value()) vocab.add_bos = !byte_level;
  }
  vocab.add_eos = BoolMember(tokenizer_config, "add_eos_token", false);
  // The chat template: a string, or a list of {name, template} of which "default" is the one.
  if (const Json* chat_template = tokenizer_config.Find("chat_template")) {
    if (chat_template->is_string()) {
      vocab.chat_template = chat_template->string();
    } else if (chat_template->is_array()) {
      for (const Json& entry : chat_template->array()) {
        const Json* name = entry.Find("name");
        const Json* source = entry.Find("template");
        if (name != nullptr && name->is_string() && name->string() == "default" &&
            source != nullptr && source->is_string()) {
          vocab.chat_template = source->string();
        }
      }
    }
  }
  vocab.chat_template =
      vocab.chat_template.empty() ? sidecars.chat_template_file : vocab.chat_template;
  return vocab;
}

absl::StatusOr<Vocabulary> ParseTokenizerJson(absl::string_view text, const std::string& source,
                                              const Json& config) {
  TokenizerSidecars sidecars;
  FAVOR_ASSIGN_OR_RETURN(sidecars.tokenizer_config, Json::Parse("{}", source));
  sidecars.generation_config = sidecars.tokenizer_config;
  sidecars.config = config;
  return ParseTokenizerJson(text, source, sidecars);
}

absl::StatusOr<Vocabulary> LoadTokenizerJson(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(path));
  const size_t slash = path.find_last_of('/');
  const std::string directory =
      slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  TokenizerSidecars sidecars;
  FAVOR_ASSIGN_OR_RETURN(sidecars.config, ReadJsonObjectIfPresent(directory + "/config.json"));
  FAVOR_ASSIGN_OR_RETURN(sidecars.tokenizer_config,
                         ReadJsonObjectIfPresent(directory + "/tokenizer_config.json"));
  FAVOR_ASSIGN_OR_RETURN(sidecars.generation_config,
                         ReadJsonObjectIfPresent(directory + "/generation_config.json"));
  // Newer transformers write the template to its own file.
  if (const std::string file = directory + "/chat_template.jinja"; IsRegularFile(file)) {
    FAVOR_ASSIGN_OR_RETURN(sidecars.chat_template_file, ReadFileBytes(file));
  }
  return ParseTokenizerJson(text, path, sidecars);
}

}  // namespace favor::io
