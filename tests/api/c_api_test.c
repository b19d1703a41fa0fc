/* The C API from C: load, tokenize, generate with a callback that stops, score, and errors as
 * status codes with messages. Exit code 0 when every check passes. */
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

  session_options.attention = "favor3";
  favor_session* bad = NULL;
  CHECK(favor_session_create(NULL, &session_options, &bad, &error) == FAVOR_INVALID_ARGUMENT);
  favor_error_free(error);
  favor_session_free(session);
  CHECK(favor_model_vocab_size(NULL) == 0 && favor_session_position(NULL) == 0);
  favor_session_reset(NULL);
  favor_session_free(NULL);
  favor_model_free(NULL);

  if (failures > 0) fprintf(stderr, "%d checks failed\n", failures);
  return failures > 0 ? 1 : 0;
}
