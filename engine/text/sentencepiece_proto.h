// Serializes a SentencePiece ModelProto (BPE, byte fallback when the vocabulary has the 256 byte
// pieces) from a vocabulary, writing the
// protobuf wire format directly: the few fields needed do not justify a protobuf dependency.
// Field numbers follow sentencepiece_model.proto (checked against tok512.model).
#pragma once

#include <string>

#include "engine/io/model_file.h"

namespace favor::text {

// Normalisation follows the reference tokenizers of these formats (llama.cpp, llama2.c, Hugging
// Face's Llama tokenizer): a dummy-prefix space, spaces escaped as U+2581, no collapsing of
// repeated spaces, no Unicode normalisation.
std::string SerializeSentencePieceModel(const io::Vocabulary& vocabulary);

}  // namespace favor::text
