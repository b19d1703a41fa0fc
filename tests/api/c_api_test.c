/* The C API from C on a real model: load, tokenize, generate with a callback that stops, score,
 * every session option reaching the engine (scores change with it; a window over the whole text
 * scores as exact), and errors as status codes with messages that name the bad value. Exit code
 * 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "favor/favor.h"

static int failures = 0;
#define CHECK(condition)                                                            \
  do {                                                                              \
    if (!(condition)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

struct counter {
  int tokens;
  size_t bytes;
};

static int count_and_stop_at_8(int32_t token, const char* text, size_t length, void* user) {
  struct counter* c = (struct counter*)user;
  (void)text;
  if (token >= 0) c->tokens++;
  c->bytes += length;
  return c->tokens < 8;
}

/* The text's total log-probability under a session (0 on failure, which no real score is). */
static double score_with(favor_session* session, const char* text) {
  double log_prob = 0;
  int64_t predicted = 0;
  favor_error* error = NULL;
  if (favor_score(session, text, &log_prob, &predicted, &error) != FAVOR_OK) {
    fprintf(stderr, "score: %s\n", favor_error_message(error));
    favor_error_free(error);
    return 0;
  }
  return log_prob;
}

/* The same under a new session with `options` (0 on failure). */
static double score_new(const favor_model* model, const favor_session_options* options,
                        const char* text) {
  favor_session* session = NULL;
  favor_error* error = NULL;
  if (favor_session_create(model, options, &session, &error) != FAVOR_OK) {
    fprintf(stderr, "session: %s\n", favor_error_message(error));
    favor_error_free(error);
    return 0;
  }
  const double log_prob = score_with(session, text);
  favor_session_free(session);
  return log_prob;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  CHECK(strcmp(favor_version(), FAVOR_VERSION_STRING) == 0);

  favor_error* error = NULL;
  favor_model* model = NULL;
  CHECK(favor_model_load("/nonexistent.bin", NULL, &model, &error) != FAVOR_OK);
  CHECK(error != NULL && strstr(favor_error_message(error), "/nonexistent.bin") != NULL);
  favor_error_free(error);
  error = NULL;

  if (favor_model_load(argv[1], NULL, &model, &error) != FAVOR_OK) {
    fprintf(stderr, "load: %s\n", favor_error_message(error));
    favor_error_free(error);
    return 1;
  }
  CHECK(favor_model_vocab_size(model) == 512);

  int32_t ids[64];
  size_t count = 0;
  CHECK(favor_tokenize(model, "Once upon a time", 1, ids, 64, &count, NULL) == FAVOR_OK);
  CHECK(count > 1 && count < 64);
  CHECK(favor_tokenize(model, "Once upon a time", 1, ids, 1, &count, &error) == FAVOR_OUT_OF_RANGE);
  favor_error_free(error);
  error = NULL;

  favor_session_options session_options;
  favor_session_options_init(&session_options);
  favor_session* session = NULL;
  CHECK(favor_session_create(model, &session_options, &session, NULL) == FAVOR_OK);
  /* A context beyond the memory allowed is refused up front, with the figure. */
  favor_session_options huge = session_options;
  huge.context = 4096;
  huge.memory_limit_bytes = 1 << 20;
  favor_session* refused = NULL;
  CHECK(favor_session_create(model, &huge, &refused, &error) == FAVOR_RESOURCE_EXHAUSTED);
  CHECK(refused == NULL && error != NULL &&
        strstr(favor_error_message(error), "needs 5.0 MiB of sequence state") != NULL);
  favor_error_free(error);
  error = NULL;
  /* A second handle for the option checks below; the first is freed while its session lives. */
  favor_model* model_for_options = NULL;
  CHECK(favor_model_load(argv[1], NULL, &model_for_options, NULL) == FAVOR_OK);
  favor_model_free(model); /* The session keeps it alive. */

  favor_generate_options options;
  favor_generate_options_init(&options);
  options.temperature = 0;
  options.max_tokens = 32;
  struct counter c = {0, 0};
  char* text = NULL;
  CHECK(favor_generate(session, "Once upon a time", &options, count_and_stop_at_8, &c, &text,
                       NULL) == FAVOR_OK);
  CHECK(c.tokens == 8);
  CHECK(text != NULL && strlen(text) == c.bytes);
  printf("generated: %s\n", text ? text : "(null)");
  favor_string_free(text);

  double log_prob = 0;
  int64_t predicted = 0;
  CHECK(favor_score(session, "Once upon a time, there was a girl.", &log_prob, &predicted, NULL) ==
        FAVOR_OK);
  CHECK(predicted > 5 && log_prob < 0);

  /* Every session option reaches the engine: scores change when an option does, and a window
   * covering the whole text scores as exact attention does. */
  const char* text_to_score =
      "Once upon a time, there was a little girl named Lily. She loved to play.";
  const double exact = score_with(session, text_to_score);
  favor_session_options window = session_options;
  window.attention = "window";
  window.window = 64;
  window.sinks = 0;
  const double wide = score_new(model_for_options, &window, text_to_score);
  CHECK(wide < 0 && fabs(wide - exact) < 1e-4 * fabs(exact));
  window.window = 4;
  const double narrow = score_new(model_for_options, &window, text_to_score);
  CHECK(narrow < 0 && fabs(narrow - exact) > 1e-3);
  window.sinks = 4;
  CHECK(fabs(score_new(model_for_options, &window, text_to_score) - narrow) > 1e-4);
  favor_session_options favor = session_options;
  favor.attention = "favor#";
  favor.features = 16;
  const double m16 = score_new(model_for_options, &favor, text_to_score);
  favor.features = 64;
  const double m64 = score_new(model_for_options, &favor, text_to_score);
  favor.attention_seed = 9;
  const double seeded = score_new(model_for_options, &favor, text_to_score);
  favor.features_kind = "sderf";
  const double sderf = score_new(model_for_options, &favor, text_to_score);
  CHECK(m16 < 0 && m64 < 0 && seeded < 0 && sderf < 0);
  CHECK(fabs(m16 - m64) > 1e-4 && fabs(m64 - seeded) > 1e-4 && fabs(seeded - sderf) > 1e-4);
  favor_session_options hybrid = session_options;
  hybrid.attention = "hybrid";
  hybrid.window = 8;
  hybrid.statistics = "causal";
  const double causal = score_new(model_for_options, &hybrid, text_to_score);
  CHECK(causal < 0 && fabs(causal - exact) > 1e-4);

  /* Bad names are refused with a message that names them, on a real model. */
  favor_session* bad = NULL;
  favor_session_options bad_options = session_options;
  bad_options.attention = "favor3";
  CHECK(favor_session_create(model_for_options, &bad_options, &bad, &error) ==
        FAVOR_INVALID_ARGUMENT);
  CHECK(bad == NULL && error != NULL && strstr(favor_error_message(error), "favor3") != NULL);
  favor_error_free(error);
  error = NULL;
  bad_options = favor;
  bad_options.features_kind = "trigrf";
  CHECK(favor_session_create(model_for_options, &bad_options, &bad, &error) != FAVOR_OK);
  CHECK(error != NULL &&
        strstr(favor_error_message(error), "not a positive random-feature kind") != NULL);
  favor_error_free(error);
  error = NULL;
  bad_options = favor;
  bad_options.statistics = "/nonexistent.favor-stats";
  CHECK(favor_session_create(model_for_options, &bad_options, &bad, &error) != FAVOR_OK);
  CHECK(error != NULL && strstr(favor_error_message(error), "/nonexistent.favor-stats") != NULL);
  favor_error_free(error);
  error = NULL;
  CHECK(favor_session_create(NULL, &session_options, &bad, &error) == FAVOR_INVALID_ARGUMENT);
  favor_error_free(error);

  /* Continuous batching: three prompts, two at a time, greedy; each text is what a fresh session
   * generates for it, and a prompt past the context fails alone. */
  {
    const char* prompts[4] = {"Once upon a time", "Lily saw a cat", "The sun", NULL};
    favor_generate_options greedy;
    favor_generate_options_init(&greedy);
    greedy.temperature = 0;
    greedy.max_tokens = 20;
    char* texts[4] = {NULL, NULL, NULL, NULL};
    favor_status statuses[4];
    favor_session_options small;
    favor_session_options_init(&small);
    small.context = 64;
    char long_prompt[2048];
    long_prompt[0] = 0;
    for (int i = 0; i < 100; ++i) strcat(long_prompt, "a cat ");
    prompts[3] = long_prompt;
    CHECK(favor_generate_batch(model_for_options, &small, 2, prompts, 4, &greedy, NULL, NULL, texts,
                               statuses, NULL) == FAVOR_OK);
    for (int i = 0; i < 3; ++i) {
      favor_session* alone = NULL;
      char* expected = NULL;
      CHECK(statuses[i] == FAVOR_OK && texts[i] != NULL);
      CHECK(favor_session_create(model_for_options, &small, &alone, NULL) == FAVOR_OK);
      CHECK(favor_generate(alone, prompts[i], &greedy, NULL, NULL, &expected, NULL) == FAVOR_OK);
      CHECK(texts[i] != NULL && expected != NULL && strcmp(texts[i], expected) == 0);
      favor_string_free(expected);
      favor_string_free(texts[i]);
      favor_session_free(alone);
    }
    CHECK(statuses[3] == FAVOR_OUT_OF_RANGE && texts[3] == NULL);
    CHECK(favor_generate_batch(model_for_options, NULL, 0, prompts, 1, NULL, NULL, NULL, texts,
                               NULL, &error) == FAVOR_INVALID_ARGUMENT);
    CHECK(error != NULL && strstr(favor_error_message(error), "slot") != NULL);
    favor_error_free(error);
    error = NULL;
  }

  favor_model_free(model_for_options);
  favor_session_free(session);
  CHECK(favor_model_vocab_size(NULL) == 0 && favor_session_position(NULL) == 0);
  favor_session_reset(NULL);
  favor_session_free(NULL);
  favor_model_free(NULL);

  if (failures > 0) fprintf(stderr, "%d checks failed\n", failures);
  return failures > 0 ? 1 : 0;
}
