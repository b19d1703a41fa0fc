#include "engine/text/byte_level_bpe.h"

#include <queue>

#include "absl/strings/str_cat.h"

namespace favor::text {

int32_t ByteLevelBpe::Intern(const std::string& piece) {
  auto [it, inserted] = symbol_ids_.try_emplace(piece, static_cast<int32_t>(symbols_.size()));
  if (inserted) symbols_.push_back(piece);
  return it->second;
}

absl::StatusOr<ByteLevelBpe> ByteLevelBpe::Create(const io::Vocabulary& vocabulary) {
  ByteLevelBpe bpe;
  bpe.ignore_merges_ = vocabulary.ignore_merges;
  bpe.vocab_size_ = static_cast<int32_t>(vocabulary.pieces.size());
  bpe.symbols_.reserve(vocabulary.pieces.size());
  bpe.symbol_ids_.reserve(vocabulary.pieces.size());
  for (size_t id = 0; id < vocabulary.pieces.size(); ++id) {
    bpe.symbols_.push_back(vocabulary.pieces[id]);
    // The first id wins when a piece repeats (vocabularies with duplicate added tokens).
    bpe.symbol_ids_.try_emplace(vocabulary.pieces[id], static_cast<int32_t>(id));
  }
  for (int byte = 0; byte < 256; ++byte) {
    bpe.byte_symbols_[static_cast<size_t>(byte)] =
        bpe.Intern(bpe.alphabet_.Character(static_cast<unsigned char>(byte)));
  }
  bpe.merges_.reserve(vocabulary.merges.size());
  for (size_t rank = 0; rank < vocabulary.merges.size(); ++rank) {
    const auto& [left, right] = vocabulary.merges[rank];
    if (left.empty() || right.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("merge ", rank, " ('", left, " ", right, "') has an empty piece"));
    }
    const int32_t left_id = bpe.Intern(left);
    const int32_t right_id = bpe.Intern(right);
    const int32_t result = bpe.Intern(left + right);
    // A repeated pair keeps its best rank.
    bpe.merges_.try_emplace(PairKey(left_id, right_id), Merge{static_cast<int32_t>(rank), result});
  }
  return bpe;
}

void ByteLevelBpe::EmitSymbol(int32_t symbol, std::vector<int32_t>& ids) const {
  if (symbol < vocab_size_) {
    ids.push_back(symbol);
    return;
  }
  // Not a piece of the vocabulary: its characters, each of which is (byte characters always are
  // in a byte-level vocabulary; one that is not is skipped, as there is no id to give it).
  const std::string& piece = symbols_[static_cast<size_t>(symbol)];
  for (size_t at = 0; at < piece.size();) {
    const auto lead = static_cast<unsigned char>(piece[at]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    auto it = symbol_ids_.find(piece.substr(at, length));
    if (it != symbol_ids_.end() && it->second < vocab_size_) ids.push_back(it->second);
    at += length;
  }
}

void ByteLevelBpe::Encode(absl::string_view bytes, bool prefix_space,
                          std::vector<int32_t>& ids) const {
  const size_t n = bytes.size() + (prefix_space ? 1 : 0);
  if (n == 0) return;
  auto byte_at = [&](size_t i) {
    return static_cast<unsigned char>(prefix_space ? (i == 0 ? ' ' : bytes[i - 1]) : bytes[i]);
  };
  if (n == 1) {
    EmitSymbol(byte_symbols_[byte_at(0)], ids);
    return;
  }
  if (ignore_merges_) {
    std::string spelled;
    spelled.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) spelled += alphabet_.Character(byte_at(i));
    if (auto it = symbol_ids_.find(spelled); it != symbol_ids_.end() && it->second < vocab_size_) {
      ids.push_back(it->second);
      return;
    }
  }

  // Symbols in a linked list; candidate merges in a heap by (rank, position), checked when popped
  // against the symbols still there.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;  // -1: none.
  };
  std::vector<Symbol> symbols(n);
  for (size_t i = 0; i < n; ++i) {
    symbols[i] = {byte_symbols_[byte_at(i)], static_cast<int32_t>(i) - 1,
                  i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t left_id;
    int32_t right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[static_cast<size_t>(left)].next;
    if (right < 0) return;
    const int32_t left_id = symbols[static_cast<size_t>(left)].id;
    const int32_t right_id = symbols[static_cast<size_t>(right)].id;
    auto it = merges_.find(PairKey(left_id, right_id));
    if (it != merges_.end()) queue.push({it->second.rank, left, left_id, right_id});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<int32_t>(i));
  while (!queue.empty()) {
    const Candidate candidate = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(candidate.left)];
    if (left.id != candidate.left_id || left.next < 0) continue;  // Merged away since.
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    if (right.id != candidate.right_id) continue;
    left.id = merges_.find(PairKey(candidate.left_id, candidate.right_id))->second.result;
    right.id = -1;  // Gone.
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = candidate.left;
    consider(left.prev);
    consider(candidate.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    EmitSymbol(symbols[static_cast<size_t>(i)].id, ids);
  }
}

std::optional<std::string> ByteLevelBpe::PieceBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return std::nullopt;
  return alphabet_.Decode(symbols_[static_cast<size_t>(id)]);
}

}  // namespace favor::text
