#include "engine/text/tokenizer.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/file_kind.h"
#include "engine/io/model_file.h"
#include "engine/text/byte_level_model.h"
#include "engine/text/pre_tokenizer_presets.h"
#include "engine/text/sentencepiece_model.h"
#include "engine/text/sentencepiece_proto.h"

namespace favor::text {
namespace {

// Texts that mark the end of a turn or message in the chat formats of the families we load; a
// control token spelled so ends a generation even when the metadata does not name it.
constexpr absl::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>",    "<|eom_id|>",    "<|im_end|>", "<|end|>",
    "<end_of_turn>", "<|endoftext|>", "<EOT>",      "<|end_of_text|>",
};

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<SubwordModel> model, SpecialTokens special_tokens)
    : model_(std::move(model)), special_tokens_(std::move(special_tokens)) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::SetSpecialTokens(int32_t bos_id, int32_t eos_id,
                                 std::span<const int32_t> end_of_generation) {
  bos_id_ = bos_id;
  eos_id_ = eos_id;
  end_of_generation_.clear();
  end_of_generation_texts_.clear();
  std::vector<int32_t> candidates = {eos_id};
  candidates.insert(candidates.end(), end_of_generation.begin(), end_of_generation.end());
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (!model_->IsControl(id)) continue;
    const std::string piece = model_->Piece(id);
    for (const absl::string_view text : kEndOfGenerationTexts) {
      if (piece == text) candidates.push_back(id);
    }
  }
  candidates.push_back(bos_id);
  for (int32_t id : candidates) {
    if (id < 0 || id >= vocab_size() || IsEndOfGeneration(id)) continue;
    end_of_generation_.push_back(id);
    const std::string piece = IdToPiece(id);
    if (piece.size() >= 3 && piece.front() == '<' && piece.back() == '>') {
      end_of_generation_texts_.push_back(piece);
    }
  }
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), id) !=
         end_of_generation_.end();
}

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < vocab_size() && model_->IsControl(id);
}

absl::StatusOr<std::vector<std::string>> Tokenizer::UnrepresentableCharacters(
    absl::string_view text) const {
  FAVOR_ASSIGN_OR_RETURN(const std::vector<std::string> surfaces, model_->UnknownSurfaces(text));
  std::vector<std::string> characters;
  for (const std::string& surface : surfaces) {
    for (size_t i = 0; i < surface.size();) {  // One UTF-8 character at a time.
      const auto lead = static_cast<unsigned char>(surface[i]);
      const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      std::string character = surface.substr(i, length);
      if (character != " " &&
          std::find(characters.begin(), characters.end(), character) == characters.end()) {
        characters.push_back(std::move(character));
      }
      i += length;
    }
  }
  return characters;
}

absl::StatusOr<std::vector<std::string>> Tokenizer::UnrepresentableCharacters(
    absl::string_view text, std::span<const int32_t> ids) const {
  const bool any_unknown = std::any_of(ids.begin(), ids.end(), [&](int32_t id) {
    return id >= 0 && id < vocab_size() && model_->IsUnknown(id);
  });
  if (!any_unknown && !model_->CanDropText()) return std::vector<std::string>();
  return UnrepresentableCharacters(text);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceFile(
    const std::string& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("tokenizer: ", bytes.status().message()));
  }
  return FromSentencePieceModel(*bytes, absl::StrCat("SentencePiece model ", path));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceModel(
    const std::string& serialized, const std::string& origin) {
  FAVOR_ASSIGN_OR_RETURN(auto model, SentencePieceModel::Load(serialized, origin));
  const int bos = model->BosId();
  const int eos = model->EosId();
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(model), SpecialTokens({})));
  tokenizer->SetSpecialTokens(bos >= 0 ? bos : 1, eos >= 0 ? eos : 2, {});
  tokenizer->add_bos_ = bos >= 0;
  tokenizer->origin_ = origin;
  tokenizer->description_ = "SentencePiece BPE";
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromVocabulary(const io::Vocabulary& v) {
  const size_t n = v.pieces.size();
  if (n == 0 || v.types.size() != n ||
      (v.model == io::VocabularyModel::kSentencePiece && v.scores.size() != n)) {
    return absl::InvalidArgumentError(absl::StrCat(v.origin, ": inconsistent vocabulary"));
  }
  for (int32_t id : {v.bos_id, v.eos_id}) {
    if (id < 0 || static_cast<size_t>(id) >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(v.origin, ": special token id ", id, " outside the vocabulary of ", n));
    }
  }
  if (v.unk_id < -1 || v.unk_id >= static_cast<int64_t>(n) ||
      (v.model == io::VocabularyModel::kSentencePiece && v.unk_id < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(v.origin, ": unknown-token id ", v.unk_id, " outside the vocabulary of ", n));
  }
  for (int32_t id : v.end_of_generation) {
    if (id < 0 || static_cast<size_t>(id) >= n) {
      return absl::InvalidArgumentError(absl::StrCat(v.origin, ": end-of-generation token ", id,
                                                     " outside the vocabulary of ", n));
    }
  }
  std::unique_ptr<SubwordModel> model;
  bool add_bos_default = true;
  std::string description;
  bool partition_always = false;
  switch (v.model) {
    case io::VocabularyModel::kSentencePiece: {
      FAVOR_ASSIGN_OR_RETURN(model,
                             SentencePieceModel::Load(SerializeSentencePieceModel(v),
                                                      absl::StrCat("vocabulary from ", v.origin)));
      description = "SentencePiece BPE";
      // User-defined pieces are found here, as llama.cpp and Hugging Face do: the text after one
      // is a new stretch with its own dummy-prefix space (Phi-3's "</s>").
      partition_always = true;
      break;
    }
    case io::VocabularyModel::kByteLevelBpe: {
      io::Vocabulary resolved = v;
      std::vector<io::PreTokenizerStep> steps = v.pre_tokenizer;
      add_bos_default = false;
      if (!v.pre_tokenizer_name.empty()) {
        auto preset = FindPreTokenizerPreset(v.pre_tokenizer_name);
        if (!preset.ok()) {
          return absl::Status(preset.status().code(),
                              absl::StrCat(v.origin, ": ", preset.status().message()));
        }
        steps = preset->steps;
        resolved.ignore_merges = v.ignore_merges || preset->ignore_merges;
        add_bos_default = preset->add_bos;
      }
      auto created = ByteLevelModel::Create(resolved, steps);
      if (!created.ok()) {
        return absl::Status(created.status().code(),
                            absl::StrCat(v.origin, ": ", created.status().message()));
      }
      model = *std::move(created);
      description = v.pre_tokenizer_name.empty()
                        ? std::string("byte-level BPE (tokenizer.json pre-tokenizer)")
                        : absl::StrCat("byte-level BPE (pre-tokenizer ", v.pre_tokenizer_name, ")");
      partition_always = true;
      break;
    }
  }
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(model), SpecialTokens(v)));
  tokenizer->partition_always_ = partition_always;
  tokenizer->SetSpecialTokens(v.bos_id, v.eos_id, v.end_of_generation);
  tokenizer->add_bos_ = v.add_bos.value_or(add_bos_default);
  tokenizer->add_eos_ = v.add_eos;
  tokenizer->origin_ = v.origin;
  tokenizer->chat_template_ = v.chat_template;
  tokenizer->description_ = std::move(description);
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  const io::FileKind kind = io::IdentifyFile(path);
  if (kind == io::FileKind::kSentencePieceModel ||
      (kind == io::FileKind::kUnknown && absl::EndsWith(path, ".model"))) {
    return FromSentencePieceFile(path);
  }
  FAVOR_ASSIGN_OR_RETURN(const io::Vocabulary vocabulary, io::LoadVocabularyFile(path));
  return FromVocabulary(vocabulary);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text,
                                                       const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (options.add_bos) ids.push_back(bos_id_);
  if (options.parse_special || partition_always_) {
    for (const TextFragment& fragment : special_tokens_.Partition(text, options.parse_special)) {
      if (fragment.token >= 0) {
        ids.push_back(fragment.token);
      } else {
        FAVOR_RETURN_IF_ERROR(model_->Encode(fragment.text, ids));
      }
    }
  } else {
    FAVOR_RETURN_IF_ERROR(model_->Encode(text, ids));
  }
  if (options.add_eos) ids.push_back(eos_id_);
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids) const {
  const int32_t n = vocab_size();
  for (int32_t id : ids) {
    if (id < 0 || id >= n) {
      return absl::OutOfRangeError(absl::StrCat("token id ", id, " outside the vocabulary of ", n));
    }
  }
  return model_->Decode(ids);
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return model_->Piece(id);
}

std::string Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return model_->TokenText(id);
}

int32_t Tokenizer::vocab_size() const { return model_->size(); }

}  // namespace favor::text
