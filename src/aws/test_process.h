#pragma once
// Tests only. Scaffolding for tests that talk to a real helper process (tests/*.py servers,
// nghttpd, moto_server, openssl): find a program on PATH, run it with piped stdin/stdout, read
// the port it announces or listens on, plus a refusing port and a temporary directory.
//
//   std::string error;
//   auto server = testing_util::Child::Spawn({*python, script}, /*merge_stderr=*/false, &error);
//   std::optional<std::string> line = server->ReadLine(std::chrono::seconds(30));  // "PORT n"
//
// Not thread-safe: each object belongs to one test (or one suite's set-up and tear-down).

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace quotaflow::testing_util {

// The first executable `name` in $PATH (/usr/bin:/bin when unset). getenv is not thread-safe
// against setenv; tests look programs up before starting threads.
inline std::optional<std::string> FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): see above
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

// A helper process: stdin and stdout are pipes (stdin closing tells our python servers to exit,
// so a crashed test leaves nothing behind), stderr goes to the test log unless merged into
// stdout. The destructor closes stdin, then terminates and reaps the process unless Wait() or
// Exited() already reaped it.
class Child {
 public:
  // nullptr, with `error` set, when the pipes cannot be made or argv[0] cannot be run. argv[0]
  // is a path (see FindProgram); the child inherits this process's environment.
  static std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv, bool merge_stderr,
                                      std::string* error) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      *error = "pipe2 failed";
      return nullptr;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      *error = "pipe2 failed";
      return nullptr;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
      close(in[1]);
      close(out[0]);
      *error = "cannot run " + argv[0] + ": " + std::generic_category().message(rc);
      return nullptr;
    }
    return std::unique_ptr<Child>(new Child(pid, in[1], out[0]));
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  ~Child() {
    close(stdin_fd_);
    if (!exited_) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }

  pid_t pid() const { return pid_; }

  // The next line of stdout without its '\n', or nullopt at EOF or after `timeout`.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (size_t eol = buffered_.find('\n'); eol != std::string::npos) {
        std::string line = buffered_.substr(0, eol);
        buffered_.erase(0, eol + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffered_.append(buf, static_cast<size_t>(n));
    }
  }

  // Reads stdout to EOF (giving up when it stays silent for `idle`) and reaps the process;
  // returns its exit status (-1 when a signal ended it) and what it printed from here on.
  std::pair<int, std::string> Wait(std::chrono::milliseconds idle = std::chrono::seconds(60)) {
    std::string output;
    while (std::optional<std::string> line = ReadLine(idle)) output += *line + "\n";
    output += buffered_;
    buffered_.clear();
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
  }

  // Whether the process has ended; reaps it if so, without blocking.
  bool Exited() {
    if (!exited_ && waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }

 private:
  Child(pid_t pid, int stdin_fd, int stdout_fd)
      : pid_(pid), stdin_fd_(stdin_fd), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdin_fd_;
  int stdout_fd_;
  std::string buffered_;  // read from stdout, not yet returned
  bool exited_ = false;   // reaped: the pid may belong to someone else now
};

// The TCP port `child` listens on, from /proc, for servers (nghttpd) that bind port 0 without
// saying which port they got. Polls until the socket appears, the child exits, or `timeout`.
inline std::optional<int> ListeningPort(Child& child, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !child.Exited()) {
    std::set<std::string> inodes;
    std::error_code ec;
    const std::string fd_dir = "/proc/" + std::to_string(child.pid()) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(fd_dir, ec)) {
      const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
      if (target.starts_with("socket:[")) inodes.insert(target.substr(8, target.size() - 9));
    }
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line);  // column titles
    while (std::getline(tcp, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeouts, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeouts >> inode;
      if (state == "0A" && inodes.contains(inode)) {  // 0A = LISTEN
        return std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
      }
    }
    // Polling for readiness, not a fixed wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

// A port on 127.0.0.1 that refuses connections: bound, so nobody else takes it, but not listening.
// A test failure when no port can be bound.
class ClosedPort {
 public:
  ClosedPort() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot bind a port on 127.0.0.1";
    }
    port_ = ntohs(addr.sin_port);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  ~ClosedPort() { close(fd_); }

  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// A fresh directory under the system temp dir (named `<prefix>-XXXXXX`), removed with everything
// in it by the destructor. When mkdtemp fails, ok() is false and path() empty: the caller decides
// whether that is a test failure or a reason to skip.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (ok()) std::filesystem::remove_all(path_, ec);
  }

  bool ok() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }

  // Writes `text` to `name` (a path relative to the directory; parents are made), optionally
  // executable by its owner. Returns the file's full path.
  std::string Write(const std::string& name, const std::string& text,
                    bool executable = false) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    if (executable) {
      std::filesystem::permissions(file, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add);
    }
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace quotaflow::testing_util
