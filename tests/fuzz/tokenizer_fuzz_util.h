// What a tokenizer is used for once loaded: encode a prompt, decode it back, and decode every id
// (the text stream of generation decodes ids one by one).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/text/tokenizer.h"

namespace favor::fuzz {

inline void UseTokenizer(const text::Tokenizer& tokenizer) {
  auto ids =
      tokenizer.Encode("Once upon a time, \xe2\x96\x81 <s> caf\xc3\xa9 \xf0\x9f\x98\x80!", true);
  if (ids.ok()) (void)tokenizer.Decode(*ids);
  const int32_t n = tokenizer.vocab_size();
  for (int32_t id = 0; id < n && id < 4096; ++id) {
    (void)tokenizer.IdToPiece(id);
    const int32_t one[] = {id};
    (void)tokenizer.Decode(one);
  }
}

}  // namespace favor::fuzz
