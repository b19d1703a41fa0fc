// favor serve as a user runs it: the binary on loopback, driven by the official openai npm client
// (run by node), stopped by SIGTERM while a request streams, and scaled out as two replicas
// behind nginx with the configuration in docs/serve/nginx.conf. Tests needing node, the openai
// package (tools/setup.sh installs it) or nginx say so and skip without them.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

extern char** environ;

namespace favor::testing {
namespace {

using Json = nlohmann::ordered_json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool OnPath(const std::string& program) {
  return std::system(("command -v " + program + " > /dev/null 2>&1").c_str()) == 0;
}

// A child process with stdout and stderr in files; killed (SIGKILL) if still running at the end.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int signal_number) const { ::kill(pid_, signal_number); }
  // The exit code, waiting up to `timeout`; -1 if it did not exit.
  int Wait(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string Log() const { return Slurp(log_); }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string log_;
};

// `favor serve --port 0` on tinystories-656K; the port is read from its start-up line.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& name, const std::vector<std::string>& extra = {})
      : process_(Arguments(extra), ::testing::TempDir() + "/favor_serve_" + name + "_" +
                                       std::to_string(::getpid()) + ".log") {
    for (int attempt = 0; attempt < 500 && port_ == 0; ++attempt) {
      const std::string log = process_.Log();
      const size_t at = log.find("on http://127.0.0.1:");
      if (at != std::string::npos) port_ = std::atoi(log.c_str() + at + 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  int port() const { return port_; }
  Process& process() { return process_; }

 private:
  static std::vector<std::string> Arguments(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {FAVOR_BINARY,
                                     "serve",
                                     "-m",
                                     ModelsDir() + "/tinystories-656K",
                                     "--port",
                                     "0",
                                     "--chat-template",
                                     "chatml",
                                     "-c",
                                     "256",
                                     "-t",
                                     "2",
                                     "--alias",
                                     "tiny"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  Process process_;
  int port_ = 0;
};

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(ServeProcess, TheOpenAiClientChatsStreamsAndCompletes) {
  FAVOR_REQUIRE_MODELS();
  const std::string modules =
      std::string(FAVOR_SOURCE_DIR) + "/build/reference-clients/node_modules";
  if (!OnPath("node") || !std::ifstream(modules + "/openai/package.json")) {
    GTEST_SKIP() << "node or the openai package is missing (tools/setup.sh installs it with npm)";
  }
  ServeProcess server("openai", {"--api-key", "sesame"});
  ASSERT_GT(server.port(), 0) << server.process().Log();
  const std::string out = ::testing::TempDir() + "/favor_openai_client.json";
  const std::string command = absl::StrCat(
      "node ", FAVOR_SOURCE_DIR, "/tests/server/openai_client.cjs http://127.0.0.1:", server.port(),
      "/v1 ", modules, " > ", out, " 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << Slurp(out) << server.process().Log();
  const Json seen = Json::parse(Slurp(out));
  EXPECT_FALSE(seen["whole"].get<std::string>().empty());
  EXPECT_EQ(seen["streamed"], seen["whole"]);
  EXPECT_EQ(seen["finish"], seen["whole_finish"]);
  EXPECT_EQ(seen["usage"]["completion_tokens"], seen["whole_usage"]["completion_tokens"]);
  EXPECT_EQ(seen["whole_usage"]["completion_tokens"].get<int>(), 24);
  EXPECT_FALSE(seen["completion"].get<std::string>().empty());
  EXPECT_EQ(seen["models"], Json::array({"tiny"}));
  EXPECT_EQ(seen["error"]["status"], 400);
  EXPECT_EQ(seen["error"]["type"], "invalid_request_error");
}

// SIGTERM while a request streams: the request still ends properly, new ones are refused while
// the server drains, and it exits 0.
TEST(ServeProcess, SigtermFinishesTheRequestsInFlight) {
  FAVOR_REQUIRE_MODELS();
  ServeProcess server("sigterm", {"--shutdown-grace", "20"});
  ASSERT_GT(server.port(), 0) << server.process().Log();
  std::string events;
  std::atomic<bool> receiving{false};
  std::thread streamer([&] {
    httplib::Client client("127.0.0.1", server.port());
    httplib::Request request;
    request.method = "POST";
    request.path = "/v1/completions";
    request.body =
        R"({"prompt": "Once upon a time", "max_tokens": 150, "ignore_eos": true, "stream": true})";
    request.set_header("Content-Type", "application/json");
    request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      events.append(data, length);
      receiving = true;
      return true;
    };
    client.send(request);
  });
  while (!receiving) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.process().Signal(SIGTERM);
  streamer.join();
  EXPECT_EQ(server.process().Wait(std::chrono::seconds(30)), 0) << server.process().Log();
  EXPECT_NE(events.find("\"finish_reason\":\"length\""), std::string::npos) << events;
  EXPECT_NE(events.find("data: [DONE]"), std::string::npos);
  EXPECT_NE(server.process().Log().find("SIGTERM: finishing the requests in flight"),
            std::string::npos);
}

// docs/serve/nginx.conf in front of two replicas: requests through nginx reach both, streams pass
// through unbuffered, and nothing is lost.
TEST(ServeProcess, NginxSpreadsRequestsOverTwoReplicas) {
  FAVOR_REQUIRE_MODELS();
  if (!std::ifstream("/usr/sbin/nginx")) {
    GTEST_SKIP() << "nginx is missing (tools/setup.sh installs nginx-light)";
  }
  ServeProcess first("replica1"), second("replica2");
  ASSERT_GT(first.port(), 0) << first.process().Log();
  ASSERT_GT(second.port(), 0) << second.process().Log();
  const int front = FreePort();
  const std::string dir = ::testing::TempDir() + "/favor_nginx_" + std::to_string(::getpid());
  std::system(("mkdir -p " + dir + "/logs").c_str());
  const std::string config =
      absl::StrReplaceAll(Slurp(std::string(FAVOR_SOURCE_DIR) + "/docs/serve/nginx.conf"),
                          {{"127.0.0.1:8081", absl::StrCat("127.0.0.1:", first.port())},
                           {"127.0.0.1:8082", absl::StrCat("127.0.0.1:", second.port())},
                           {"listen 127.0.0.1:8080", absl::StrCat("listen 127.0.0.1:", front)}});
  std::ofstream(dir + "/nginx.conf") << config;
  Process proxy({"/usr/sbin/nginx", "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log",
                 // One process, so that killing it leaves no worker behind.
                 "-g", absl::StrCat("daemon off; master_process off; pid ", dir, "/nginx.pid;")},
                dir + "/nginx.out");
  ASSERT_TRUE(proxy.started());
  httplib::Client client("127.0.0.1", front);
  client.set_read_timeout(60);
  bool up = false;
  for (int attempt = 0; attempt < 250 && !up; ++attempt) {
    const auto health = client.Get("/health");
    up = health && health->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(up) << Slurp(dir + "/error.log") << proxy.Log();
  std::vector<std::thread> clients;
  std::atomic<int> complete{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      httplib::Client each("127.0.0.1", front);
      each.set_read_timeout(60);
      for (int i = 0; i < 10; ++i) {
        const auto response =
            each.Post("/v1/completions",
                      R"({"prompt": "Once upon a time", "max_tokens": 6, "ignore_eos": true})",
                      "application/json");
        if (response && response->status == 200 &&
            Json::parse(response->body)["usage"]["completion_tokens"] == 6) {
          ++complete;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(complete, 40);
  // Both replicas served some: each counts its own generations.
  for (ServeProcess* replica : {&first, &second}) {
    httplib::Client direct("127.0.0.1", replica->port());
    const std::string metrics = direct.Get("/metrics")->body;
    const size_t at = metrics.find("\nfavor_generations_total ");
    ASSERT_NE(at, std::string::npos) << metrics;
    EXPECT_GT(std::atof(metrics.c_str() + at + 25), 0) << "replica on " << replica->port();
  }
  // A stream through nginx arrives as events, ending with [DONE].
  std::string events;
  httplib::Request request;
  request.method = "POST";
  request.path = "/v1/completions";
  request.body = R"({"prompt": "Once", "max_tokens": 5, "stream": true})";
  request.set_header("Content-Type", "application/json");
  request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
    events.append(data, length);
    return true;
  };
  ASSERT_TRUE(client.send(request));
  EXPECT_NE(events.find("data: [DONE]"), std::string::npos) << events;
  proxy.Signal(SIGQUIT);
  proxy.Wait(std::chrono::seconds(10));
}

}  // namespace
}  // namespace favor::testing
