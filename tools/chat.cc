// favor chat: a conversation on the terminal (or piped stdin). Each line is a user turn (a line
// ending in "\" continues on the next); the reply streams as it is generated; only the new turn is
// prefilled (runtime::Conversation). Commands: /reset, /save FILE, /load FILE, /help, /exit.
// Ctrl-C stops the reply in progress, not the program.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/chat/chat_template.h"
#include "engine/chat/json_value.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/runtime/conversation.h"
#include "engine/runtime/model.h"
#include "tools/attention_flags.h"
#include "tools/chat_template_choice.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"
#include "tools/interrupt.h"
#include "tools/prompt_text.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("chat", status); }
void Report(const absl::Status& status) {
  std::fprintf(stderr, "favor chat: error: %s\n", std::string(status.message()).c_str());
}

absl::Status Save(const runtime::Conversation& conversation, const std::string& path) {
  chat::Dict file;
  file.Set("messages", chat::Value(conversation.messages()));
  FAVOR_ASSIGN_OR_RETURN(const std::string json, chat::Value(file).Json(2, false));
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  const bool written = std::fwrite(json.data(), 1, json.size(), out) == json.size();
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

absl::StatusOr<chat::List> Load(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(const std::string text, ReadPromptFile(path));
  FAVOR_ASSIGN_OR_RETURN(const chat::Value file, chat::ParseJsonValue(text, path));
  const chat::Value* messages = file.is_dict() ? file.dict().Find("messages") : nullptr;
  if (messages == nullptr || !messages->is_list()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected {\"messages\": [...]}"));
  }
  for (const chat::Value& m : messages->list()) {
    const chat::Value* role = m.is_dict() ? m.dict().Find("role") : nullptr;
    const chat::Value* content = m.is_dict() ? m.dict().Find("content") : nullptr;
    if (role == nullptr || !role->is_string() || content == nullptr || !content->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": every message needs a string role and content"));
    }
  }
  return messages->list();
}

// One user turn from the input: lines joined while they end in "\". False at the end of input.
bool ReadTurn(bool interactive, std::string& turn) {
  turn.clear();
  std::string line;
  bool any = false;
  if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
  while (std::getline(std::cin, line)) {
    any = true;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      turn += line + "\n";
      if (interactive) std::fputs(". ", stdout), std::fflush(stdout);
      continue;
    }
    turn += line;
    return true;
  }
  return any;
}

constexpr const char* kHelp =
    "commands: /reset (start over, keeping the system prompt), /save FILE, /load FILE, /exit; "
    "end a line with \\ to continue it; Ctrl-C stops a reply\n";

}  // namespace

int Chat(int argc, char** argv) {
  std::string model_path, tokenizer_path, system_prompt, template_choice;
  int64_t n_predict = -1;
  SessionFlags session_flags;
  bool verbose = false, ignore_eos = false;
  SamplingFlags sampling_flags;
  AttentionFlags attention;
  ArgParser args("chat");
  args.String({"-m", "--model"}, "PATH",
              "model: a .gguf file, a llama2.c .bin checkpoint, or a Hugging Face directory",
              &model_path);
  args.String({"-sys", "--system-prompt"}, "TEXT",
              "system prompt (the conversation's first message)", &system_prompt);
  args.String({"--chat-template"}, "NAME|FILE",
              absl::StrCat("chat template instead of the model's own: ",
                           absl::StrJoin(chat::ChatTemplate::Names(), ", "), ", or a Jinja file"),
              &template_choice);
  args.Int({"-n", "--n-predict"}, "N",
           "most tokens per reply (default -1: until end of turn or a full context)", &n_predict,
           {.min = -1});
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  args.Flag({"--ignore-eos"}, "reply through end-of-turn tokens (until -n or a full context)",
            &ignore_eos);
  AddSamplingFlags(args, sampling_flags);
  AddSessionFlags(args, session_flags);
  AddAttentionFlags(args, attention);
  args.Flag({"-v", "--verbose"},
            "after each reply: tokens reused, prefilled and generated, speed, state size",
            &verbose);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) return PrintUsageError("chat", "-m PATH is required");
  if (session_flags.dtype != "f32" && session_flags.dtype != "bf16") {
    return PrintUsageError(
        "chat", absl::StrCat("--dtype must be f32 or bf16, got '", session_flags.dtype, "'"));
  }
  auto attention_spec = ParseAttentionFlags(args, attention);
  if (!attention_spec.ok()) {
    return PrintUsageError("chat", std::string(attention_spec.status().message()));
  }
  auto model = runtime::Model::Load(
      model_path, {.tokenizer_path = tokenizer_path, .weights = WeightsType(session_flags)});
  if (!model.ok()) return Fail(model.status());
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto chat_template = ChooseTemplate(template_choice, tokenizer, model_path);
  if (!chat_template.ok()) return Fail(chat_template.status());
  auto variant = (*model)->Variant(*attention_spec);
  if (!variant.ok()) return Fail(variant.status());
  auto session = runtime::Session::Create(*variant, ToSessionOptions(session_flags));
  if (!session.ok()) return Fail(session.status());

  runtime::Conversation conversation(**session, tokenizer, *chat_template);
  if (!system_prompt.empty()) conversation.SetSystemPrompt(system_prompt);
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  if (interactive) {
    std::fprintf(stderr, "favor chat: %s, chat template %s, attention %s. %s", model_path.c_str(),
                 chat_template->origin().c_str(), variant->attention.c_str(), kHelp);
  }
  const runtime::GenerationOptions options{.sampling = ToSamplerOptions(sampling_flags),
                                           .max_tokens = n_predict,
                                           .stop_at_eos = !ignore_eos};
  std::string turn;
  int turns = 0;
  while (ReadTurn(interactive, turn)) {
    if (turn.empty()) continue;
    if (turn[0] == '/') {
      const size_t space = turn.find(' ');
      const std::string command = turn.substr(0, space);
      const std::string argument = space == std::string::npos ? "" : turn.substr(space + 1);
      if (command == "/exit" || command == "/quit") break;
      if (command == "/help") {
        std::fputs(kHelp, stderr);
      } else if (command == "/reset") {
        conversation.Reset();
        std::fputs("favor chat: the conversation starts over\n", stderr);
      } else if (command == "/save" && !argument.empty()) {
        if (auto status = Save(conversation, argument); !status.ok()) {
          Report(status);
        } else {
          std::fprintf(stderr, "favor chat: saved %zu messages to %s\n",
                       conversation.messages().size(), argument.c_str());
        }
      } else if (command == "/load" && !argument.empty()) {
        auto messages = Load(argument);
        if (!messages.ok()) {
          Report(messages.status());
        } else {
          std::fprintf(stderr, "favor chat: loaded %zu messages from %s\n", messages->size(),
                       argument.c_str());
          conversation.SetMessages(*std::move(messages));
        }
      } else {
        std::fprintf(stderr, "favor chat: unknown command '%s' (%s or a FILE missing); %s",
                     command.c_str(), "/reset, /save, /load, /help, /exit", kHelp);
      }
      continue;
    }
    const InterruptScope interrupt;
    auto result = conversation.Reply(turn, options, [&interrupt](int32_t, const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return !interrupt.interrupted();
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!result.ok()) {
      Report(result.status());
      continue;
    }
    ++turns;
    if (interrupt.interrupted()) std::fputs("favor chat: [reply stopped]\n", stderr);
    if (verbose) {
      const runtime::GenerationResult& g = result->generation;
      std::fprintf(stderr, "%s",
                   absl::StrFormat(
                       "[turn %d: %d tokens reused%s, %d prefilled in %.3f s, %d generated in "
                       "%.3f s (%.1f tokens/s), stop: %s, state %.2f MiB]\n",
                       turns, result->reused_tokens,
                       result->restarted ? " (the template rewrote the past: started over)" : "",
                       result->fed_tokens, g.prompt_seconds, g.tokens.size(), g.generation_seconds,
                       g.tokens.empty() ? 0.0 : g.tokens.size() / g.generation_seconds,
                       runtime::StopReasonName(g.stop),
                       static_cast<double>((*session)->StateBytes()) / (1 << 20))
                       .c_str());
    }
  }
  return 0;
}

}  // namespace favor::cli
