// Unicode normalisation of text before pre-tokenization (tokenizer.json's NFC/NFD/NFKC/NFKD
// normalizers), through utf8proc.
#pragma once

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"

namespace favor::text {

// `text` (valid UTF-8) under each normalisation in turn.
absl::StatusOr<std::string> Normalize(absl::string_view text,
                                      std::span<const io::Normalization> normalizations);

}  // namespace favor::text
