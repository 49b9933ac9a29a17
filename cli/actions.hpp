// Built-in actions of `kview trace -a`: hist, latency, print. They are BPF
// programs (cli/bpf/kview_actions.bpf.c, loaded from a bpftool skeleton)
// attached to the view's hooks, never globally.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kview/result.hpp"

struct kview_actions;
struct ring_buffer;
struct bpf_link;

namespace kview::cli {

// The values of enum kview_action (bpf/kview_actions.h, checked in actions.cpp).
enum class Action : uint32_t { Count = 0, Hist = 1, Latency = 2, Print = 3 };

struct ActionSpec {
    Action action = Action::Count;
    uint32_t arg = 0; // hist: argument 1..5
};

// "count", "hist=argN" (N = 1..5), "latency", "print".
[[nodiscard]] Result<ActionSpec> parse_action(std::string_view s);

class Actions {
  public:
    // labels[i]: the name printed for the hooks whose cookie is i.
    [[nodiscard]] static Result<std::unique_ptr<Actions>>
    load(const ActionSpec& spec, bool json, std::vector<std::string> labels, FILE* out);
    ~Actions();
    Actions(const Actions&) = delete;
    Actions& operator=(const Actions&) = delete;

    [[nodiscard]] int entry_fd() const;
    [[nodiscard]] int return_fd() const;
    [[nodiscard]] int events_fd() const; // -1 unless print
    void consume();                      // print pending events
    void print_summary();                // histograms (hist, latency): totals
    void print_interval();               // histograms: counts since the last interval

    // Tracepoints: attached globally and filtered on the traced tgid
    // ("filtered, not private"). names: "category:name".
    [[nodiscard]] Result<void> attach_tracepoints(const std::vector<std::string>& names,
                                                  pid_t tgid);
    struct TracepointStats {
        std::string name;
        uint64_t hits = 0;     // from the traced process
        uint64_t filtered = 0; // entries from other processes (their cost)
    };
    [[nodiscard]] std::vector<TracepointStats> tracepoint_stats() const;

  private:
    Actions() = default;
    static int on_event(void* self, void* data, size_t size);
    void print_hists(bool interval);
    ActionSpec spec_;
    bool json_ = false;
    FILE* out_ = stdout;
    std::vector<std::string> labels_;
    std::vector<std::string> tracepoints_;
    std::vector<struct bpf_link*> links_;
    kview_actions* skel_ = nullptr;
    ring_buffer* rb_ = nullptr;
    uint64_t first_ts_ = 0;
    std::vector<std::vector<uint64_t>> shown_; // per hook: slots at the last interval
    int64_t mono_to_unix_ns_ = 0;              // event time (CLOCK_MONOTONIC) to wall clock
};

} // namespace kview::cli
