#include "engine/runtime/conversation.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::runtime {

Conversation::Conversation(Session& session, const text::Tokenizer& tokenizer,
                           const chat::ChatTemplate& chat_template)
    : session_(session), tokenizer_(tokenizer), template_(chat_template) {}

void Conversation::SetSystemPrompt(const std::string& text) {
  if (!messages_.empty() && messages_[0].dict().Find("role")->string() == "system") {
    messages_[0] = chat::Message("system", text);
  } else {
    messages_.insert(messages_.begin(), chat::Message("system", text));
  }
}

void Conversation::Reset() {
  chat::List kept;
  if (!messages_.empty() && messages_[0].dict().Find("role")->string() == "system") {
    kept.push_back(messages_[0]);
  }
  messages_ = std::move(kept);
  session_.Reset();
  held_tokens_.clear();
  held_text_.clear();
  held_text_exact_ = false;
}

void Conversation::SetMessages(chat::List messages) { messages_ = std::move(messages); }

absl::StatusOr<std::vector<int32_t>> Conversation::TokensToFeed(const std::string& rendered,
                                                                bool& restarted) {
  // BOS as the tokenizer wants it, unless the template printed it (parsed as the token below).
  const bool add_bos = tokenizer_.add_bos() &&
                       !absl::StartsWith(rendered, tokenizer_.IdToPiece(tokenizer_.bos_id()));
  const text::EncodeOptions whole{.add_bos = add_bos, .parse_special = true};
  const bool extends = !held_tokens_.empty() && held_text_exact_ &&
                       static_cast<int64_t>(held_tokens_.size()) == session_.position() &&
                       absl::StartsWith(rendered, held_text_);
  if (extends) {
    FAVOR_ASSIGN_OR_RETURN(std::vector<int32_t> all, tokenizer_.Encode(rendered, whole));
    if (all.size() > held_tokens_.size() &&
        std::equal(held_tokens_.begin(), held_tokens_.end(), all.begin())) {
      return std::vector<int32_t>(all.begin() + static_cast<std::ptrdiff_t>(held_tokens_.size()),
                                  all.end());
    }
    return tokenizer_.Encode(rendered.substr(held_text_.size()), {.parse_special = true});
  }
  restarted = session_.position() > 0;
  session_.Reset();
  held_tokens_.clear();
  held_text_.clear();
  return tokenizer_.Encode(rendered, whole);
}

absl::Status Conversation::FeedLastToken(const GenerationResult& result) {
  // Generation samples its last token without feeding it (nothing was to follow); the next turn
  // follows it.
  const auto expected = static_cast<int64_t>(held_tokens_.size() + result.tokens.size());
  if (!result.tokens.empty() && session_.position() == expected - 1 &&
      session_.position() < session_.context()) {
    FAVOR_RETURN_IF_ERROR(session_.Feed({&result.tokens.back(), 1}).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<TurnResult> Conversation::Reply(const std::string& user_message,
                                               const GenerationOptions& options,
                                               const TokenCallback& on_token) {
  chat::List messages = messages_;
  messages.push_back(chat::Message("user", user_message));
  FAVOR_ASSIGN_OR_RETURN(const std::string rendered, template_.Apply(messages, true));
  TurnResult turn;
  FAVOR_ASSIGN_OR_RETURN(const std::vector<int32_t> feed, TokensToFeed(rendered, turn.restarted));
  if (feed.empty()) {
    return absl::InvalidArgumentError("the chat template printed nothing for the new message");
  }
  turn.reused_tokens = static_cast<int64_t>(held_tokens_.size());
  turn.fed_tokens = static_cast<int64_t>(feed.size());
  const int64_t free = session_.context() - session_.position();
  if (turn.fed_tokens >= free) {
    return absl::OutOfRangeError(absl::StrCat(
        "the conversation needs ", turn.reused_tokens + turn.fed_tokens,
        " tokens but the context holds ", session_.context(), " (start over, or use -c)"));
  }
  FAVOR_ASSIGN_OR_RETURN(turn.generation, Generate(session_, tokenizer_, feed, options, on_token));
  held_tokens_.insert(held_tokens_.end(), feed.begin(), feed.end());
  FAVOR_RETURN_IF_ERROR(FeedLastToken(turn.generation));
  const GenerationResult& g = turn.generation;
  held_tokens_.insert(held_tokens_.end(), g.tokens.begin(), g.tokens.end());
  // The held text is the rendering plus the reply's text when that text is all of the reply's
  // tokens (not cut at a stop) and the session holds every one of them.
  held_text_ = rendered + g.text;
  held_text_exact_ =
      !g.stopped_in_text && session_.position() == static_cast<int64_t>(held_tokens_.size());
  messages.push_back(chat::Message("assistant", g.text));
  messages_ = std::move(messages);
  return turn;
}

}  // namespace favor::runtime
