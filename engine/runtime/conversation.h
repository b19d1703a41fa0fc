// A chat on one session: each turn renders the whole conversation with its chat template, feeds
// only what the session does not hold yet (the new turn), and generates the reply. The session's
// state (KV cache, FAVOR# and hybrid state) carries the earlier turns, so a turn costs its own
// tokens, not the conversation's.
//
// What the session holds is tracked as tokens and as the rendered text they came from. A turn
// whose rendering extends that text feeds the tokens after it: the canonical tokenization of the
// whole rendering where the held tokens are its prefix, else the new text tokenized alone (a
// reply sampled as pieces the tokenizer would not choose). A rendering that rewrites the past
// (templates that drop earlier reasoning, or trim a reply) starts the session over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/chat/chat_template.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/session.h"
#include "engine/text/tokenizer.h"

namespace favor::runtime {

struct TurnResult {
  GenerationResult generation;
  int64_t reused_tokens = 0;  // Held by the session from earlier turns.
  int64_t fed_tokens = 0;     // Prefilled for this turn.
  bool restarted = false;     // The rendering rewrote the past: the session started over.
};

class Conversation {
 public:
  // `session`, `tokenizer` and `chat_template` must outlive the conversation.
  Conversation(Session& session, const text::Tokenizer& tokenizer,
               const chat::ChatTemplate& chat_template);

  // Adds the user's message, generates the assistant's reply (streamed through `on_token`) and
  // adds it. The message is not added if the turn fails.
  absl::StatusOr<TurnResult> Reply(const std::string& user_message,
                                   const GenerationOptions& options,
                                   const TokenCallback& on_token = nullptr);

  // The system prompt: the conversation's first message (replacing any), from the next turn.
  void SetSystemPrompt(const std::string& text);
  // Starts over (keeping the system prompt).
  void Reset();
  // Replaces the conversation (loaded from a file); the next turn prefills it.
  void SetMessages(chat::List messages);
  const chat::List& messages() const { return messages_; }

 private:
  absl::StatusOr<std::vector<int32_t>> TokensToFeed(const std::string& rendered, bool& restarted);
  absl::Status FeedLastToken(const GenerationResult& result);

  Session& session_;
  const text::Tokenizer& tokenizer_;
  const chat::ChatTemplate& template_;
  chat::List messages_;
  // What the session holds: its tokens, and the text they stand for when `held_text_exact`.
  std::vector<int32_t> held_tokens_;
  std::string held_text_;
  bool held_text_exact_ = false;
};

}  // namespace favor::runtime
