// favor serve: an OpenAI-compatible HTTP server (server/http_server.h) with continuous batching
// over --parallel slots. SIGTERM or SIGINT stops it gracefully: new requests are refused (503),
// the ones in flight finish (up to --shutdown-grace seconds, then they are cancelled and end with
// the text they have), then it exits 0.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/memory_budget.h"
#include "engine/runtime/model.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "tools/attention_flags.h"
#include "tools/chat_template_choice.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("serve", status); }

// The file name without directories and extension: what /v1/models lists by default.
std::string ModelName(const std::string& path) {
  std::string name = path;
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (const size_t slash = name.rfind('/'); slash != std::string::npos) name.erase(0, slash + 1);
  if (const size_t dot = name.rfind('.'); dot != std::string::npos && dot > 0) name.erase(dot);
  return name.empty() ? "model" : name;
}

}  // namespace

int Serve(int argc, char** argv) {
  std::string model_path, tokenizer_path, template_choice, alias;
  server::HttpOptions http;
  server::SchedulerOptions scheduling;
  int64_t port = 8080, parallel = 4, queue = 64, attentions = 4, n_predict = -1, grace = 30;
  int64_t http_threads = 0, body_mb = 8;
  SessionFlags session_flags;
  SamplingFlags sampling_flags;
  AttentionFlags attention;
  bool verbose = false;
  ArgParser args("serve");
  args.String({"-m", "--model"}, "PATH",
              "model: a .gguf file, a llama2.c .bin checkpoint, or a Hugging Face directory",
              &model_path);
  args.String({"--host"}, "ADDRESS", "address to listen on (default 127.0.0.1)", &http.host);
  args.Int({"--port"}, "N", "port to listen on (default 8080; 0: any free port, printed)", &port,
           {.min = 0, .max = 65535});
  args.Int({"-np", "--parallel"}, "N",
           "requests generated together, each in its own slot (default 4)", &parallel,
           {.min = 1, .max = 256});
  args.Int({"--queue"}, "N",
           "requests that may wait for a slot; more get 503 with Retry-After (default 64)", &queue,
           {.min = 0, .max = 1 << 20});
  args.Int({"--attentions"}, "N",
           "batches of different per-request attentions kept at once (default 4)", &attentions,
           {.min = 1, .max = 64});
  args.String({"--chat-template"}, "NAME|FILE",
              absl::StrCat("chat template instead of the model's own: ",
                           absl::StrJoin(chat::ChatTemplate::Names(), ", "), ", or a Jinja file"),
              &template_choice);
  args.String({"--api-key"}, "KEY",
              "require 'Authorization: Bearer KEY' on every route but /health", &http.api_key);
  args.String({"-a", "--alias"}, "NAME",
              "the model's name in /v1/models and responses (default: the file name)", &alias);
  args.Int({"-n", "--n-predict"}, "N",
           "most tokens per request when it sets no max_tokens (default -1: until the end of "
           "the turn or a full context)",
           &n_predict, {.min = -1});
  args.Int({"--shutdown-grace"}, "SECONDS",
           "on SIGTERM, how long requests in flight may take to finish (default 30)", &grace,
           {.min = 0, .max = 3600});
  args.Int({"--http-threads"}, "N",
           "HTTP threads (default: parallel + queue, at least 8, at most 512): each streaming "
           "response holds one",
           &http_threads, {.min = 0, .max = 4096});
  args.Int({"--max-body-mb"}, "N", "largest request body in MiB (default 8)", &body_mb,
           {.min = 1, .max = 1024});
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  AddSamplingFlags(args, sampling_flags);
  AddSessionFlags(args, session_flags);
  AddAttentionFlags(args, attention);
  args.Flag({"-v", "--verbose"}, "log every request and the executor's plan", &verbose);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) return PrintUsageError("serve", "-m PATH is required");
  if (session_flags.dtype != "f32" && session_flags.dtype != "bf16") {
    return PrintUsageError(
        "serve", absl::StrCat("--dtype must be f32 or bf16, got '", session_flags.dtype, "'"));
  }
  auto attention_spec = ParseAttentionFlags(args, attention);
  if (!attention_spec.ok()) {
    return PrintUsageError("serve", std::string(attention_spec.status().message()));
  }

  // SIGTERM and SIGINT are taken by one thread (sigwait), blocked everywhere else: every thread
  // created from here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto model = runtime::Model::Load(
      model_path, {.tokenizer_path = tokenizer_path, .weights = WeightsType(session_flags)});
  if (!model.ok()) return Fail(model.status());
  std::optional<chat::ChatTemplate> chat_template;
  {
    auto chosen = ChooseTemplate(template_choice, (*model)->tokenizer(), model_path);
    if (chosen.ok()) {
      chat_template = *std::move(chosen);
    } else if (!template_choice.empty() || !(*model)->tokenizer().chat_template().empty()) {
      return Fail(chosen.status());  // The one asked for, or the model's, does not work.
    }
  }
  server::Metrics metrics;
  scheduling.parallel = static_cast<int>(parallel);
  scheduling.context = session_flags.context;
  scheduling.threads = static_cast<int>(session_flags.threads);
  scheduling.max_batch = session_flags.batch;
  scheduling.max_queue = static_cast<int>(queue);
  scheduling.max_attentions = static_cast<int>(attentions);
  scheduling.verbose = verbose;
  auto scheduler =
      server::Scheduler::Create(**model, model_path, *attention_spec, scheduling, &metrics);
  if (!scheduler.ok()) return Fail(scheduler.status());

  http.port = static_cast<int>(port);
  http.model_name = alias.empty() ? ModelName(model_path) : alias;
  http.max_body_bytes = body_mb << 20;
  http.threads = http_threads > 0 ? static_cast<int>(http_threads)
                                  : static_cast<int>(std::clamp<int64_t>(parallel + queue, 8, 512));
  http.defaults.sampling = ToSamplerOptions(sampling_flags);
  http.defaults.max_tokens = n_predict;
  http.log_requests = verbose;
  server::HttpServer server(**model, chat_template ? &*chat_template : nullptr, **scheduler,
                            metrics, http);
  const auto bound = server.Bind();
  if (!bound.ok()) return Fail(bound.status());
  std::fprintf(stderr,
               "favor serve: %s as '%s' on http://%s:%d, %lld slots of %lld tokens, attention %s "
               "(%s of state per slot), chat template %s\n",
               model_path.c_str(), http.model_name.c_str(), http.host.c_str(), *bound,
               static_cast<long long>(parallel), static_cast<long long>((*scheduler)->context()),
               (*scheduler)->attention().c_str(),
               FormatBytes((*scheduler)->StateBytesPerSlot()).c_str(),
               chat_template ? chat_template->origin().c_str() : "none (chat completions refused)");
  std::fflush(stderr);

  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::fprintf(stderr, "favor serve: %s: finishing the requests in flight\n",
                 signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    (*scheduler)->Drain(std::chrono::seconds(grace));
    // Every request has ended by now (finished, or cancelled at the grace); the HTTP threads
    // still have to write the last events of each.
    server.Stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  });
  server.Serve();
  // Serve also returns when listening fails after binding; the stopper then needs its signal.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  std::fputs("favor serve: stopped\n", stderr);
  return 0;
}

}  // namespace favor::cli
