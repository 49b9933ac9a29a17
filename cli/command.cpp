#include "command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace kview::cli {
namespace {

void exec_command(const std::string& cmd) {
    if (cmd.find_first_of("|&;<>()$`\\\"'*?[#{}~\n") == std::string::npos) {
        std::vector<std::string> words;
        size_t i = 0;
        while ((i = cmd.find_first_not_of(" \t", i)) != std::string::npos) {
            size_t j = cmd.find_first_of(" \t", i);
            words.push_back(cmd.substr(i, j == std::string::npos ? j : j - i));
            i = j;
        }
        std::vector<char*> argv;
        for (auto& w : words)
            argv.push_back(w.data());
        argv.push_back(nullptr);
        if (!words.empty())
            execvp(argv[0], argv.data());
        return;
    }
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
}

} // namespace

Command::~Command() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
}

Result<pid_t> Command::spawn(const std::string& cmd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return errno_error("pipe");
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0)
        return errno_error("fork");
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, nullptr);
        close(p[1]);
        char go = 0;
        if (read(p[0], &go, 1) != 1)
            _exit(127); // kview gave up before starting us
        exec_command(cmd);
        _exit(127);
    }
    close(p[0]);
    go_ = Fd(p[1]);
    return pid_;
}

void Command::start() {
    if (write(go_.get(), "g", 1) != 1)
        std::fprintf(stderr, "kview: could not start the command\n");
    go_.reset();
}

int Command::reap() {
    int st = 0;
    if (pid_ <= 0 || waitpid(pid_, &st, WNOHANG) != pid_)
        return -1;
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

} // namespace kview::cli
