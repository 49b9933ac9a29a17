// The storms' shared helpers (storm_util.hpp).
#include "storm_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <gtest/gtest.h>

#include "guest_util.hpp"

namespace storm {

double seconds() {
    const char* s = std::getenv("KVIEW_STORM_SECONDS");
    return s ? std::atof(s) : 20.0;
}

uint64_t seed(uint64_t dflt) {
    const char* s = std::getenv("KVIEW_STORM_SEED");
    return s ? std::strtoull(s, nullptr, 0) : dflt;
}

std::map<std::string, long> meminfo() {
    ::sync();
    guest::write_file("/proc/sys/vm/drop_caches", "3");
    std::istringstream in(guest::read_file("/proc/meminfo"));
    std::map<std::string, long> m;
    std::string key, unit;
    long v;
    while (in >> key >> v) {
        key.pop_back(); // ':'
        m[key] = v;
        std::getline(in, unit);
    }
    return m;
}

void print_meminfo_delta(const char* storm, std::map<std::string, long> a,
                         std::map<std::string, long> b) {
    std::printf("[ figures  ] %s: meminfo delta (KiB, after drop_caches):", storm);
    for (const char* k :
         {"MemAvailable", "Slab", "SUnreclaim", "VmallocUsed", "KernelStack", "PageTables"})
        std::printf(" %s %+ld", k, b[k] - a[k]);
    std::printf("\n");
}

void Tally::add(const std::string& what) {
    std::lock_guard<std::mutex> l(m_);
    counts_[what]++;
}

void Tally::fail(const std::string& what) {
    std::lock_guard<std::mutex> l(m_);
    if (failures_.size() < 20)
        failures_.push_back(what);
    nfail_++;
}

void Tally::print(const char* storm) {
    for (const auto& [k, v] : counts_)
        std::printf("[ storm    ] %s: %-44s %llu\n", storm, k.c_str(),
                    static_cast<unsigned long long>(v));
    for (const auto& f : failures_)
        ADD_FAILURE() << storm << ": " << f;
}

std::string errname(int e) {
    return e ? strerrorname_np(e) : "ok";
}

pid_t spawn(const std::vector<std::string>& argv, bool quiet) {
    std::vector<char*> a;
    for (const auto& s : argv)
        a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (quiet) {
            int n = ::open("/dev/null", O_RDWR);
            ::dup2(n, 1);
            ::dup2(n, 2);
        }
        ::execv(a[0], a.data());
        ::_exit(127);
    }
    return pid;
}

void stop(pid_t pid) {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (::waitpid(pid, nullptr, WNOHANG) == pid)
            return;
        ::usleep(50000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

} // namespace storm
