// Request bodies of favor serve: any bytes must parse into a checked request or an error, and a
// parsed request must turn into generation options, a prompt (chat messages through a template)
// and responses (with arbitrary generated text) without crashing. The first byte picks the
// endpoint.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/chat/chat_template.h"
#include "server/openai_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using favor::server::Endpoint;
  const Endpoint endpoint = data[0] % 2 == 0 ? Endpoint::kChatCompletions : Endpoint::kCompletions;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto request = favor::server::ParseCompletionRequest(endpoint, body);
  if (!request.ok()) {
    (void)favor::server::ErrorBody(favor::server::ErrorFor(request.status()));
    return 0;
  }
  const favor::runtime::GenerationOptions options =
      favor::server::ToGenerationOptions(*request, {});
  (void)options.sampling.Validate();
  if (endpoint == Endpoint::kChatCompletions) {
    static const favor::chat::ChatTemplate kChatml =
        favor::chat::ChatTemplate::Named("chatml", "<s>", "</s>").value();
    (void)kChatml.Apply(request->messages, true);
  }
  // The body itself as generated text: any bytes must make valid JSON responses.
  favor::runtime::GenerationResult result;
  result.text = body;
  const favor::server::ResponseHeader header{endpoint, "id", 0, request->model};
  (void)favor::server::CompletionResponse(header, result, {}, {});
  (void)favor::server::StreamChunk(header, body, true, nullptr);
  return 0;
}
