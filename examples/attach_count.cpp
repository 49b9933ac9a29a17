// libkview in 40 lines: attach an ordinary libbpf kprobe object to ONE
// process through a kernel view, let it run, print the object's per-pid
// counts. Build: part of `make` (build/examples/attach_count).
// Run:   sudo build/examples/attach_count PID build/tests/count_reads.bpf.o
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "kview/bpf.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PID OBJECT.bpf.o\n", argv[0]);
        return 2;
    }
    pid_t pid = std::atoi(argv[1]);
    auto obj = kview::BpfObject::load(argv[2]); // open + verify, RAII
    if (!obj) {
        std::fprintf(stderr, "%s\n", obj.error().message().c_str());
        return 1;
    }
    auto view = kview::View::create(pid); // private kernel text for pid
    if (!view) {
        std::fprintf(stderr, "%s\n", view.error().message().c_str());
        return 1;
    }
    auto n = obj.value().attach_all(view.value()); // SEC("kprobe/...") etc.
    if (!n) {
        std::fprintf(stderr, "%s\n", n.error().message().c_str());
        return 1;
    }
    std::printf("%d program(s) attached to pid %d only; counting for 5 s\n", n.value(), pid);
    sleep(5);
    auto map = obj.value().map_fd("entries");
    uint32_t key = static_cast<uint32_t>(pid);
    uint64_t count = 0;
    if (map && bpf_map_lookup_elem(map.value(), &key, &count) == 0)
        std::printf("pid %d: %llu vfs_read calls\n", pid, static_cast<unsigned long long>(count));
    return 0; // ~View and ~BpfObject detach everything
}
