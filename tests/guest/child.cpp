// guest::Child: a target process driven over a socketpair.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kview.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "guest_util.hpp"

namespace guest {
namespace {

struct Cmd {
    char op;
    uint64_t arg;
};

void do_reads(int z, uint64_t n) {
    char c;
    for (uint64_t i = 0; i < n; i++)
        if (read(z, &c, 1) != 1)
            _exit(3);
}

// A forked child does n reads and exits; reaped here.
void fork_reads_and_reap(int z, uint64_t n) {
    pid_t p = fork();
    if (p == 0) {
        do_reads(z, n);
        _exit(0);
    }
    waitpid(p, nullptr, 0);
}

[[noreturn]] void child_loop(int s) {
    // Drop descriptors inherited from the test (other views' /dev/kview fds
    // would otherwise keep those views alive until this child exits).
    close_range(3, static_cast<unsigned>(s) - 1, 0);
    close_range(static_cast<unsigned>(s) + 1, ~0U, 0);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    int nine = open(kNinePFile, O_RDONLY | O_CLOEXEC); // the guest's root: 9p
    Cmd cmd;
    while (recv(s, &cmd, sizeof(cmd), MSG_WAITALL) == sizeof(cmd)) {
        switch (cmd.op) {
        case 'r': do_reads(z, cmd.arg); break;
        case 'p': // one-byte preads of a 9p file: one v9fs_file_read_iter() each
            for (uint64_t i = 0; i < cmd.arg; i++) {
                char c;
                if (pread(nine, &c, 1, 0) != 1)
                    _exit(9);
            }
            break;
        case 'f':
            fork_reads_and_reap(z, cmd.arg);
            break;
        case 's': { // posix_spawn: glibc clones with CLONE_VM | CLONE_VFORK
            pid_t p = spawn_self_reads(static_cast<uint32_t>(cmd.arg));
            int st = 0;
            if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                _exit(8);
            break;
        }
        case 'm': // many short-lived children, one after the other: 10 reads each
            for (uint64_t k = 0; k < cmd.arg; k++)
                fork_reads_and_reap(z, 10);
            break;
        case 'x': {
            int fl = fcntl(s, F_GETFD);
            fcntl(s, F_SETFD, fl & ~FD_CLOEXEC);
            std::string n = std::to_string(cmd.arg), fd = std::to_string(s), exe = self_exe();
            execl(exe.c_str(), exe.c_str(), "--exec-reads", n.c_str(), fd.c_str(),
                  static_cast<char*>(nullptr));
            _exit(4);
        }
        case 't': {
            unsigned char page[4096];
            std::memset(page, 0, sizeof(page));
            int d = open(KVIEW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
            kview_read_text rt{};
            rt.size = sizeof(rt);
            rt.len = sizeof(page);
            rt.addr = cmd.arg & ~4095ULL;
            rt.buf_ptr = reinterpret_cast<uintptr_t>(page);
            if (d < 0 || ioctl(d, KVIEW_IOC_READ_TEXT, &rt) != 0)
                _exit(5);
            close(d);
            if (send(s, page, sizeof(page), 0) != sizeof(page))
                _exit(6);
            continue; // the page is the answer
        }
        default: _exit(0);
        }
        if (send(s, "A", 1, 0) != 1)
            _exit(7);
    }
    _exit(0);
}

} // namespace

Child::Child() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        std::abort();
    pid_ = fork();
    if (pid_ == 0) {
        close(sv[0]);
        child_loop(sv[1]);
    }
    close(sv[1]);
    sock_ = sv[0];
}

Child::~Child() {
    if (sock_ >= 0)
        close(sock_);
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

void Child::send_cmd(char op, uint64_t arg) {
    Cmd c{op, arg};
    ASSERT_EQ(send(sock_, &c, sizeof(c), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(c)));
}

void Child::wait_ack() {
    char a = 0;
    ASSERT_EQ(recv(sock_, &a, 1, MSG_WAITALL), 1) << "target " << pid_ << " died";
    ASSERT_EQ(a, 'A');
}

void Child::reads(uint32_t n) {
    send_cmd('r', n);
    wait_ack();
}
void Child::start_reads(uint32_t n) { send_cmd('r', n); }

void Child::start_file_reads(uint32_t n) { send_cmd('p', n); }
void Child::wait_done() { wait_ack(); }
void Child::fork_reads(uint32_t n) {
    send_cmd('f', n);
    wait_ack();
}
void Child::spawn_reads(uint32_t n) {
    send_cmd('s', n);
    wait_ack();
}
void Child::forks_of_ten_reads(uint32_t kids) {
    send_cmd('m', kids);
    wait_ack();
}
void Child::exec_reads(uint32_t n) {
    send_cmd('x', n);
    wait_ack();
}

std::vector<uint8_t> Child::read_text(uint64_t addr) {
    send_cmd('t', addr);
    std::vector<uint8_t> page(4096);
    EXPECT_EQ(recv(sock_, page.data(), page.size(), MSG_WAITALL), 4096);
    return page;
}

void Child::kill9() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

} // namespace guest
