// Serializes a SentencePiece ModelProto (BPE, byte fallback when the vocabulary has the 256 byte
// pieces) from a vocabulary, writing the
// protobuf wire format directly: the few fields needed do not justify a protobuf dependency.
// Field numbers follow sentencepiece_model.proto (checked against tok512.model).
#pragma once

#include <optional>
#include <string>

#include "engine/io/model_file.h"

namespace favor::text {

// Normalisation follows the reference tokenizers of these formats (llama.cpp, llama2.c, Hugging
// Face's Llama tokenizer): a dummy-prefix space, spaces escaped as U+2581, no collapsing of
// repeated spaces, no Unicode normalisation.
std::string SerializeSentencePieceModel(const io::Vocabulary& vocabulary);

// What a serialized ModelProto's normalizer does (proto defaults where a field is absent).
struct NormalizerSpec {
  bool identity = false;  // No Unicode normalisation (name "identity", no character map).
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
};
// nullopt when the bytes are not a well-formed ModelProto at the top level.
std::optional<NormalizerSpec> ReadNormalizerSpec(const std::string& serialized_model);

// The same model without the dummy-prefix space: what encodes a stretch of text that continues
// one already encoded. nullopt when the bytes are not well-formed.
std::optional<std::string> WithoutDummyPrefix(const std::string& serialized_model);

}  // namespace favor::text
