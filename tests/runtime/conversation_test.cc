// A conversation on one session feeds only each new turn, and that changes nothing: the reply to
// a later turn, greedy, is the reply the whole conversation prefilled from scratch gets. On the
// real tinystories-656K (its vocabulary has no chat markers, so ChatML's are spelled out in
// ordinary pieces: the turn boundaries are plain text, the hardest case for reusing tokens).
#include <string>

#include "engine/chat/chat_template.h"
#include "engine/runtime/conversation.h"
#include "engine/runtime/model.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

GenerationOptions Greedy(int64_t tokens) {
  GenerationOptions options;
  options.sampling.temperature = 0.0f;
  options.max_tokens = tokens;
  return options;
}

// The reply to `messages` (ending with a user turn), prefilled from scratch.
std::string FromScratch(const Model& model, const ModelVariant& variant,
                        const chat::ChatTemplate& chat_template, const chat::List& messages,
                        int64_t tokens) {
  auto session = Session::Create(variant, {.context = 512, .threads = 2}).value();
  const std::string prompt = chat_template.Apply(messages, true).value();
  const auto ids =
      model.tokenizer()
          .Encode(prompt, {.add_bos = model.tokenizer().add_bos(), .parse_special = true})
          .value();
  return Generate(*session, model.tokenizer(), ids, Greedy(tokens)).value().text;
}

void ExpectLaterTurnsEqualScratch(const AttentionSpec& attention) {
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  const auto variant = model->Variant(attention).value();
  const auto chat_template = chat::ChatTemplate::Named("chatml", "", "").value();
  auto session = Session::Create(variant, {.context = 512, .threads = 2}).value();
  Conversation conversation(*session, model->tokenizer(), chat_template);
  conversation.SetSystemPrompt("Tell a story.");
  int64_t held = 0;
  for (const char* user :
       {"Once upon a time there was a cat.", "The cat saw a dog.", "They played in the park."}) {
    chat::List before = conversation.messages();
    before.push_back(chat::Message("user", user));
    const TurnResult turn = conversation.Reply(user, Greedy(20)).value();
    EXPECT_FALSE(turn.restarted) << user;
    EXPECT_EQ(turn.reused_tokens, held) << user;  // Everything held so far, nothing again.
    held = session->position();
    EXPECT_EQ(held, turn.reused_tokens + turn.fed_tokens +
                        static_cast<int64_t>(turn.generation.tokens.size()));
    EXPECT_EQ(turn.generation.text, FromScratch(*model, variant, chat_template, before, 20))
        << static_cast<int>(attention.kind) << ": " << user;
  }
  EXPECT_EQ(conversation.messages().size(), 7u);  // system, then user and assistant three times.
}

TEST(Conversation, LaterTurnsFeedOnlyTheirTokensAndReplyAsFromScratch) {
  FAVOR_REQUIRE_MODELS();
  ExpectLaterTurnsEqualScratch({});
}

// The same with hybrid attention (sinks and a window of exact keys, a FAVOR# tail): its state
// carries the earlier turns as well. The window is shorter than the conversation, so the tail
// is in play.
TEST(Conversation, HybridAttentionStateCarriesTheEarlierTurns) {
  FAVOR_REQUIRE_MODELS();
  ExpectLaterTurnsEqualScratch(
      {.kind = AttentionKind::kHybrid, .features = 32, .window = 24, .sinks = 4});
}

// A conversation replaced (loaded), a rewritten system prompt, or /reset: the session starts
// over, and the reply is still the one from scratch.
TEST(Conversation, ARewrittenPastStartsTheSessionOver) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  const auto chat_template = chat::ChatTemplate::Named("chatml", "", "").value();
  auto session = Session::Create(model->exact(), {.context = 512, .threads = 2}).value();
  Conversation conversation(*session, model->tokenizer(), chat_template);
  ASSERT_TRUE(conversation.Reply("Once upon a time", Greedy(12)).ok());
  conversation.SetSystemPrompt("A new system prompt.");
  chat::List before = conversation.messages();
  before.push_back(chat::Message("user", "The end."));
  const TurnResult turn = conversation.Reply("The end.", Greedy(12)).value();
  EXPECT_TRUE(turn.restarted);
  EXPECT_EQ(turn.reused_tokens, 0);
  EXPECT_EQ(turn.generation.text, FromScratch(*model, model->exact(), chat_template, before, 12));
  conversation.Reset();
  EXPECT_EQ(conversation.messages().size(), 1u);  // The system prompt stays.
  EXPECT_EQ(session->position(), 0);
}

}  // namespace
}  // namespace favor::runtime
