/* favor's C API: opaque handles with create/free pairs, status codes and error objects, over the
 * C++ API (favor.hpp), for programs in C and for other languages' foreign-function interfaces.
 *
 *   favor_model* model = NULL;
 *   favor_error* error = NULL;
 *   if (favor_model_load("stories15M.bin", NULL, &model, &error) != FAVOR_OK) {
 *     fprintf(stderr, "%s\n", favor_error_message(error));
 *     favor_error_free(error);
 *   }
 *
 * Every function that can fail returns a favor_status and, when `error` is not NULL, stores an
 * error object there on failure (free it with favor_error_free). Options structs are filled with
 * their defaults by the matching *_init function first. Getters given a NULL handle return 0;
 * free functions accept NULL. Thread safety as in favor.hpp: a model
 * may be shared by sessions on many threads; a session is used by one thread at a time. */
#ifndef FAVOR_FAVOR_H_
#define FAVOR_FAVOR_H_

#include <stddef.h>
#include <stdint.h>

#include "favor/export.h"
#include "favor/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum favor_status {
  FAVOR_OK = 0,
  FAVOR_INVALID_ARGUMENT = 1,
  FAVOR_NOT_FOUND = 2,
  FAVOR_OUT_OF_RANGE = 3,
  FAVOR_FAILED_PRECONDITION = 4,
  FAVOR_RESOURCE_EXHAUSTED = 5,
  FAVOR_INTERNAL = 6,
  FAVOR_UNKNOWN = 7
} favor_status;

typedef struct favor_model favor_model;
typedef struct favor_session favor_session;
typedef struct favor_error favor_error;

/* "0.1.0": the library's version (FAVOR_VERSION_STRING is the headers'). */
FAVOR_API const char* favor_version(void);

FAVOR_API favor_status favor_error_code(const favor_error* error);
FAVOR_API const char* favor_error_message(const favor_error* error);
FAVOR_API void favor_error_free(favor_error* error);

typedef struct favor_model_options {
  const char* tokenizer_path; /* NULL: the model's own vocabulary. */
  int bf16_weights;           /* Non-zero: matrix weights in bf16. */
} favor_model_options;
FAVOR_API void favor_model_options_init(favor_model_options* options);

/* `options` may be NULL (defaults). */
FAVOR_API favor_status favor_model_load(const char* path, const favor_model_options* options,
                                        favor_model** model, favor_error** error);
FAVOR_API void favor_model_free(favor_model* model);
FAVOR_API int64_t favor_model_vocab_size(const favor_model* model);
FAVOR_API int64_t favor_model_context(const favor_model* model);

/* Token ids of `text` into ids[0..capacity); *count receives how many there are (also when more
 * than capacity: FAVOR_OUT_OF_RANGE, call again with a larger buffer). */
FAVOR_API favor_status favor_tokenize(const favor_model* model, const char* text, int add_bos,
                                      int32_t* ids, size_t capacity, size_t* count,
                                      favor_error** error);

typedef struct favor_session_options {
  int64_t context; /* 0: the model's trained context. */
  int threads;     /* 0: physical cores. */
  /* Attention (see AttentionSpec in favor.hpp): "exact", "favor+", "favor++", "favor#",
   * "hybrid", "window"; NULL strings take the defaults. */
  const char* attention;
  const char* features_kind;
  int64_t features;
  uint64_t attention_seed;
  const char* statistics; /* NULL/"": the kind's default; "prompt", "calibrated", "causal", FILE. */
  const char* plan;       /* NULL, "calibrated" or a file. */
  int64_t window;         /* -1: default. */
  int64_t sinks;          /* -1: default. */
  /* Bytes the session's state and activations may take; 0: the machine's memory. A context or
   * feature count that needs more is refused up front with FAVOR_RESOURCE_EXHAUSTED. */
  int64_t memory_limit_bytes;
} favor_session_options;
FAVOR_API void favor_session_options_init(favor_session_options* options);

/* The session keeps the model alive: the model handle may be freed before the session. */
FAVOR_API favor_status favor_session_create(const favor_model* model,
                                            const favor_session_options* options,
                                            favor_session** session, favor_error** error);
FAVOR_API void favor_session_free(favor_session* session);
FAVOR_API void favor_session_reset(favor_session* session);
FAVOR_API int64_t favor_session_position(const favor_session* session);
FAVOR_API int64_t favor_session_state_bytes(const favor_session* session);

#define FAVOR_RANDOM_SEED UINT64_MAX

/* Defaults (favor_generate_options_init) are llama.cpp's: temperature 0.8, top-k 40, top-p 0.95,
 * min-p 0.05, repetition penalty 1 (off) over 64 tokens, a random seed, 128 tokens. */
typedef struct favor_generate_options {
  float temperature; /* 0: greedy. */
  int top_k;
  float top_p;
  float min_p;
  float repeat_penalty;
  int repeat_last_n;
  uint64_t seed;      /* FAVOR_RANDOM_SEED (the default): a random seed each time. */
  int64_t max_tokens; /* < 0: until the context is full. */
  int stop_at_eos;    /* End at the model's end-of-generation tokens (non-zero, the default). */
  const char* const* stop_strings;
  size_t stop_string_count;
} favor_generate_options;
FAVOR_API void favor_generate_options_init(favor_generate_options* options);

/* Called per generated token with the text that became final (`length` bytes, not
 * NUL-terminated; token -1 for held-back text at the end). Return non-zero to go on, 0 to stop. */
typedef int (*favor_token_callback)(int32_t token, const char* text, size_t length,
                                    void* user_data);

/* Generates after `prompt`. `callback` may be NULL. On success *text (if not NULL) receives the
 * generated text, NUL-terminated, to be freed with favor_string_free. */
FAVOR_API favor_status favor_generate(favor_session* session, const char* prompt,
                                      const favor_generate_options* options,
                                      favor_token_callback callback, void* user_data, char** text,
                                      favor_error** error);
FAVOR_API void favor_string_free(char* text);

/* Continuous batching (favor::GenerateBatch): generates after each of `count` prompts, up to
 * `parallel` together, every forward pass taking the next token of each running one. Every
 * sequence has `session_options`' context, threads, attention and memory limit (NULL: defaults;
 * the limit covers all of them) and `options` (NULL: defaults). On FAVOR_OK, texts[i] is prompt
 * i's generated text (free it with favor_string_free), or NULL if that prompt failed, and
 * statuses[i] (when not NULL) its status; one prompt failing (too long, say) does not stop the
 * others. The call itself fails only when the batch cannot be built. `callback` (may be NULL)
 * gets each token with its prompt's index. */
typedef int (*favor_batch_token_callback)(size_t index, int32_t token, const char* text,
                                          size_t length, void* user_data);
FAVOR_API favor_status favor_generate_batch(const favor_model* model,
                                            const favor_session_options* session_options,
                                            int parallel, const char* const* prompts, size_t count,
                                            const favor_generate_options* options,
                                            favor_batch_token_callback callback, void* user_data,
                                            char** texts, favor_status* statuses,
                                            favor_error** error);

/* Sum of log p(token | earlier tokens) over the text (nats) and how many tokens were predicted. */
FAVOR_API favor_status favor_score(favor_session* session, const char* text, double* total_log_prob,
                                   int64_t* predicted_tokens, favor_error** error);

#ifdef __cplusplus
}
#endif

#endif /* FAVOR_FAVOR_H_ */
