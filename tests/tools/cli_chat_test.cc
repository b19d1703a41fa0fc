// favor chat through piped stdin, as a script or a test harness drives it: turns, commands,
// continuation lines, the saved conversation, and the one-line errors.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "tests/tools/cli_runner.h"

extern char** environ;

namespace {

using favor::testing::ExpectOneLineError;
using favor::testing::RunFavor;
using favor::testing::RunFavorWithInput;

std::string Temp(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid())))
      .string();
}

std::string WriteInput(const std::string& name, const std::string& text) {
  const std::string path = Temp(name);
  std::ofstream(path) << text;
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kModel = "-m " + favor::testing::ModelsDir() + "/tinystories-656K";

TEST(CliChat, TurnsReuseTheSessionAndCommandsWork) {
  FAVOR_REQUIRE_MODELS();
  const std::string saved = Temp("chat-saved") + ".json";
  const std::string input =
      WriteInput("chat-input", "Once upon a time\nThe cat \\\nand the dog\n/save " + saved +
                                   "\n/frobnicate\n/reset\nA dog\n/load " + saved + "\nThe end\n");
  const auto r = RunFavorWithInput(
      "chat " + kModel + " --chat-template chatml -sys 'Tell a story.' --temp 0 -n 16 -v", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream err(r.err);
  std::string line;
  std::vector<std::string> turns;
  while (std::getline(err, line)) {
    if (line.rfind("[turn ", 0) == 0) turns.push_back(line);
  }
  ASSERT_EQ(turns.size(), 4u) << r.err;
  EXPECT_NE(turns[0].find("[turn 1: 0 tokens reused"), std::string::npos) << turns[0];
  // The second turn (two lines joined) reuses the first turn's tokens.
  EXPECT_EQ(turns[1].find("[turn 2: 0 tokens reused"), std::string::npos) << turns[1];
  EXPECT_NE(turns[2].find("[turn 3: 0 tokens reused"), std::string::npos) << turns[2];  // /reset
  // After /load the past differs from what the session holds: it starts over.
  EXPECT_NE(turns[3].find("started over"), std::string::npos) << turns[3];
  EXPECT_NE(r.err.find("saved 5 messages to " + saved), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown command '/frobnicate'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the conversation starts over"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("loaded 5 messages from " + saved), std::string::npos) << r.err;
  const std::string json = ReadFile(saved);
  EXPECT_NE(json.find("\"content\": \"The cat \\nand the dog\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"role\": \"system\",\n      \"content\": \"Tell a story.\""),
            std::string::npos)
      << json;
  std::filesystem::remove(saved);
  std::filesystem::remove(input);
}

// The reply to the first turn is what favor generate gives for the rendered prompt.
TEST(CliChat, FirstReplyEqualsGenerateOnTheRenderedPrompt) {
  FAVOR_REQUIRE_MODELS();
  const std::string input = WriteInput("chat-one", "Once upon a time\n");
  const auto chat =
      RunFavorWithInput("chat " + kModel + " --chat-template chatml --temp 0 -n 20", input);
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  const auto generate =
      RunFavor("generate " + kModel +
               " --temp 0 -n 20 -e -p '<|im_start|>user\\nOnce upon a time<|im_end|>\\n<|im_start|>"
               "assistant\\n'");
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  const std::string prompt = "<|im_start|>assistant\n";
  const size_t at = generate.out.find(prompt);
  ASSERT_NE(at, std::string::npos) << generate.out;
  EXPECT_EQ(chat.out, generate.out.substr(at + prompt.size())) << chat.out;
  std::filesystem::remove(input);
}

TEST(CliChat, BadRequestsAreOneLineErrors) {
  FAVOR_REQUIRE_MODELS();
  ExpectOneLineError(RunFavor("chat " + kModel), 1,
                     "has no chat template; choose one with --chat-template (chatml, llama2");
  ExpectOneLineError(RunFavor("chat " + kModel + " --chat-template vicuna"), 1,
                     "unknown chat template 'vicuna'");
  const std::string broken = WriteInput("broken.jinja", "{% for m in messages %}");
  ExpectOneLineError(RunFavor("chat " + kModel + " --chat-template " + broken), 1,
                     "chat template line 1: missing {% endfor %}");
  std::filesystem::remove(broken);
  const std::string bad = WriteInput("bad-load", "/load /nonexistent.json\n");
  const auto r = RunFavorWithInput("chat " + kModel + " --chat-template chatml", bad);
  EXPECT_EQ(r.exit_code, 0);  // A failed command is reported; the chat goes on.
  EXPECT_NE(r.err.find("favor chat: error: "), std::string::npos) << r.err;
  std::filesystem::remove(bad);
}

// favor serve refuses what it cannot serve before it listens: one line, non-zero exit.
TEST(CliServe, BadOptionsAreOneLineErrorsBeforeListening) {
  FAVOR_REQUIRE_MODELS();
  ExpectOneLineError(RunFavor("serve"), 2, "-m PATH is required");
  ExpectOneLineError(RunFavor("serve " + kModel + " --port 70000"), 2, "--port");
  ExpectOneLineError(RunFavor("serve " + kModel + " --parallel 0"), 2, "must be in [1, 256]");
  ExpectOneLineError(RunFavor("serve " + kModel + " --dtype q8_0"), 2,
                     "--dtype must be f32 or bf16");
  ExpectOneLineError(RunFavor("serve " + kModel + " --bogus"), 2, "--bogus");
  ExpectOneLineError(RunFavor("serve -m /nonexistent.gguf"), 1, "/nonexistent.gguf");
  ExpectOneLineError(RunFavor("serve " + kModel + " --chat-template vicuna"), 1,
                     "unknown chat template 'vicuna'");
  ExpectOneLineError(RunFavor("serve " + kModel + " -c 100000000 --parallel 64"), 1,
                     "use fewer slots (--parallel)");
  ExpectOneLineError(RunFavor("serve " + kModel + " --host 203.0.113.7 --port 8080"), 1,
                     "cannot listen on 203.0.113.7:8080");
}

// Ctrl-C (SIGINT) during a reply stops that reply, not the program: the next turn is answered and
// the chat ends normally at the end of input.
TEST(CliChat, CtrlCStopsTheReplyNotTheProgram) {
  FAVOR_REQUIRE_MODELS();
  const std::string dir = ::testing::TempDir();
  const std::string out = dir + "/favor_chat_sigint_" + std::to_string(::getpid()) + ".out";
  const std::string err = dir + "/favor_chat_sigint_" + std::to_string(::getpid()) + ".err";
  int input[2];
  ASSERT_EQ(::pipe(input), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input[0], 0);
  posix_spawn_file_actions_addclose(&actions, input[1]);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // Replies of up to 5000 tokens through end-of-turn markers: far longer than the signal takes.
  const std::string model = favor::testing::ModelsDir() + "/tinystories-656K";
  std::vector<std::string> argv = {FAVOR_BINARY,   "chat", "-m",   model, "--chat-template",
                                   "chatml",       "-c",   "8192", "-n",  "5000",
                                   "--ignore-eos", "-t",   "1"};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, FAVOR_BINARY, &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(input[0]);
  auto size_of = [](const std::string& path) {
    std::error_code error;
    const auto size = std::filesystem::file_size(path, error);
    return error ? 0 : size;
  };
  const std::string first = "Once upon a time\n";
  ASSERT_EQ(::write(input[1], first.data(), first.size()), static_cast<ssize_t>(first.size()));
  for (int i = 0; i < 2000 && size_of(out) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(size_of(out), 0u) << "no reply began";
  ::kill(pid, SIGINT);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  for (int i = 0; i < 400 && slurp(err).find("[reply stopped]") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const size_t after_first = size_of(out);
  const std::string second = "The end.\n";
  ASSERT_EQ(::write(input[1], second.data(), second.size()), static_cast<ssize_t>(second.size()));
  ::close(input[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << slurp(err);
  const std::string log = slurp(err);
  EXPECT_NE(log.find("favor chat: [reply stopped]"), std::string::npos) << log;
  EXPECT_GT(size_of(out), after_first) << "the second turn got no reply";
  std::filesystem::remove(out);
  std::filesystem::remove(err);
}

}  // namespace
