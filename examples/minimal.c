/* Minimal generation from C through the C API.
 *   minimal_c MODEL [PROMPT] */
#include <stdio.h>

#include "favor/favor.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL [PROMPT]\n", argv[0]);
    return 2;
  }
  favor_model* model = NULL;
  favor_session* session = NULL;
  favor_error* error = NULL;
  char* text = NULL;
  int exit_code = 1;
  favor_generate_options options;
  favor_generate_options_init(&options);
  options.temperature = 0;
  options.max_tokens = 32;
  if (favor_model_load(argv[1], NULL, &model, &error) == FAVOR_OK &&
      favor_session_create(model, NULL, &session, &error) == FAVOR_OK &&
      favor_generate(session, argc > 2 ? argv[2] : "Once upon a time", &options, NULL, NULL,
                     &text, &error) == FAVOR_OK) {
    printf("%s\n", text);
    exit_code = 0;
  } else {
    fprintf(stderr, "error: %s\n", favor_error_message(error));
  }
  favor_string_free(text);
  favor_error_free(error);
  favor_session_free(session);
  favor_model_free(model);
  return exit_code;
}
