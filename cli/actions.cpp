#include "actions.hpp"

#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/kview.h>

#include "bpf/kview_actions.h"

#include <cerrno>
#include <cstring>

#include "json.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "kview_actions.skel.h"
#pragma GCC diagnostic pop

namespace kview::cli {
namespace {

constexpr uint32_t kSlots = KVIEW_ACTION_SLOTS;
using Event = kview_action_event;
static_assert(static_cast<uint32_t>(Action::Count) == KVIEW_ACTION_COUNT &&
                  static_cast<uint32_t>(Action::Hist) == KVIEW_ACTION_HIST &&
                  static_cast<uint32_t>(Action::Latency) == KVIEW_ACTION_LATENCY &&
                  static_cast<uint32_t>(Action::Print) == KVIEW_ACTION_PRINT,
              "Action mirrors enum kview_action");

// bcc-style log2 histogram: "  2 -> 3  : 5  |****   |".
void print_log2(FILE* out, const char* unit, const std::vector<uint64_t>& slots) {
    size_t last = 0;
    uint64_t max = 0;
    for (size_t i = 0; i < slots.size(); i++) {
        if (slots[i]) {
            last = i;
            max = std::max(max, slots[i]);
        }
    }
    if (!max) {
        std::fprintf(out, "     (no events)\n");
        return;
    }
    std::fprintf(out, "%24s : count     distribution\n", unit);
    for (size_t i = 0; i <= last; i++) {
        uint64_t lo = i == 0 ? 0 : (uint64_t{1} << (i - 1));
        uint64_t hi = i == 0 ? 0 : (uint64_t{1} << i) - 1;
        int stars = static_cast<int>(slots[i] * 40 / max);
        std::fprintf(out, "%10llu -> %-10llu : %-8llu |%-40s|\n",
                     static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi),
                     static_cast<unsigned long long>(slots[i]),
                     std::string(static_cast<size_t>(stars), '*').c_str());
    }
}

} // namespace

Result<ActionSpec> parse_action(std::string_view s) {
    ActionSpec a;
    if (s == "count")
        return a;
    if (s == "latency") {
        a.action = Action::Latency;
        return a;
    }
    if (s == "print") {
        a.action = Action::Print;
        return a;
    }
    if (s.size() == 9 && (s.substr(0, 8) == "hist=arg" || s.substr(0, 8) == "hist:arg") &&
        s[8] >= '1' && s[8] <= '5') {
        a.action = Action::Hist;
        a.arg = static_cast<uint32_t>(s[8] - '0');
        return a;
    }
    return Error{EINVAL, "action '" + std::string(s) + "'",
                 "use count, hist=argN (N = 1..5), latency or print"};
}

Result<std::unique_ptr<Actions>> Actions::load(const ActionSpec& spec, bool json,
                                               std::vector<std::string> labels, FILE* out) {
    std::unique_ptr<Actions> a(new Actions());
    a->spec_ = spec;
    a->json_ = json;
    a->out_ = out;
    a->labels_ = std::move(labels);
    timespec mono{};
    clock_gettime(CLOCK_MONOTONIC, &mono); // bpf_ktime_get_ns()'s clock
    a->mono_to_unix_ns_ = unix_now_ns() - (int64_t{mono.tv_sec} * 1000000000 + mono.tv_nsec);
    a->skel_ = kview_actions__open();
    if (!a->skel_)
        return errno_error("open built-in BPF actions");
    a->skel_->rodata->action = static_cast<uint32_t>(spec.action); // = enum kview_action
    a->skel_->rodata->hist_arg = spec.arg;
    if (kview_actions__load(a->skel_) != 0)
        return errno_error("load built-in BPF actions", "run with a kernel that has BTF and BPF");
    if (spec.action == Action::Print) {
        a->rb_ = ring_buffer__new(bpf_map__fd(a->skel_->maps.events), on_event, a.get(), nullptr);
        if (!a->rb_)
            return errno_error("ring buffer");
    }
    return a;
}

Actions::~Actions() {
    for (auto* l : links_)
        bpf_link__destroy(l);
    ring_buffer__free(rb_);
    kview_actions__destroy(skel_);
}

int Actions::entry_fd() const {
    return bpf_program__fd(skel_->progs.kview_entry);
}
int Actions::return_fd() const {
    return bpf_program__fd(skel_->progs.kview_return);
}
int Actions::events_fd() const {
    return rb_ ? ring_buffer__epoll_fd(rb_) : -1;
}

Result<void> Actions::attach_tracepoints(const std::vector<std::string>& names, pid_t tgid) {
    uint32_t key = static_cast<uint32_t>(tgid);
    uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.traced), &key, &one, BPF_ANY) != 0)
        return errno_error("tracepoint filter map");
    for (size_t i = 0; i < names.size() && i < KVIEW_MAX_HOOKS; i++) {
        auto colon = names[i].find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == names[i].size())
            return Error{EINVAL, "tracepoint '" + names[i] + "'", "use category:name"};
        std::string cat = names[i].substr(0, colon), name = names[i].substr(colon + 1);
        LIBBPF_OPTS(bpf_tracepoint_opts, opts, .bpf_cookie = i);
        bpf_link* l = bpf_program__attach_tracepoint_opts(skel_->progs.kview_tracepoint,
                                                          cat.c_str(), name.c_str(), &opts);
        if (!l)
            return errno_error("attach tracepoint " + names[i],
                               "see /sys/kernel/tracing/available_events");
        links_.push_back(l);
        tracepoints_.push_back(names[i]);
    }
    return {};
}

std::vector<Actions::TracepointStats> Actions::tracepoint_stats() const {
    std::vector<TracepointStats> out;
    for (uint32_t i = 0; i < tracepoints_.size(); i++) {
        TracepointStats t{tracepoints_[i], 0, 0};
        (void)bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tp_hits), &i, &t.hits);
        (void)bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tp_filtered), &i, &t.filtered);
        out.push_back(t);
    }
    return out;
}

void Actions::consume() {
    if (rb_)
        ring_buffer__consume(rb_);
}

int Actions::on_event(void* self, void* data, size_t size) {
    auto* a = static_cast<Actions*>(self);
    if (size < sizeof(Event))
        return 0;
    Event e;
    std::memcpy(&e, data, sizeof(e));
    if (!a->first_ts_)
        a->first_ts_ = e.ts;
    std::string comm(e.comm, strnlen(e.comm, sizeof(e.comm)));
    std::string label = "?";
    if (e.hook < a->labels_.size())
        label = a->labels_[e.hook];
    else if (e.hook >= KVIEW_MAX_HOOKS && e.hook - KVIEW_MAX_HOOKS < a->tracepoints_.size())
        label = "tracepoint:" + a->tracepoints_[e.hook - KVIEW_MAX_HOOKS];
    double t = static_cast<double>(e.ts - a->first_ts_) / 1e9;
    if (a->json_)
        emit(a->out_, "event",
             {{"rel_s", t},
              {"comm", comm},
              {"pid", e.pid},
              {"tid", e.tid},
              {"hook", label},
              {"dir", e.is_return ? "return" : "entry"},
              {e.is_return ? "retval" : "arg1", hex(e.value)}},
             static_cast<int64_t>(e.ts) + a->mono_to_unix_ns_);
    else
        std::fprintf(a->out_, "%12.6f %-16s %7u %7u %-24s %-6s %s=0x%llx\n", t, comm.c_str(), e.pid,
                     e.tid, label.c_str(), e.is_return ? "return" : "entry",
                     e.is_return ? "ret" : "arg1", static_cast<unsigned long long>(e.value));
    return 0;
}

void Actions::print_summary() {
    print_hists(false);
}

void Actions::print_interval() {
    print_hists(true);
}

void Actions::print_hists(bool interval) {
    consume();
    if (spec_.action != Action::Hist && spec_.action != Action::Latency)
        return;
    int fd = bpf_map__fd(skel_->maps.hist);
    size_t n = std::min<size_t>(labels_.size(), KVIEW_MAX_HOOKS);
    if (shown_.size() != n)
        shown_.assign(n, std::vector<uint64_t>(kSlots));
    for (uint32_t h = 0; h < n; h++) {
        std::vector<uint64_t> slots(kSlots);
        for (uint32_t s = 0; s < kSlots; s++) {
            uint32_t key = h * kSlots + s;
            uint64_t v = 0;
            if (bpf_map_lookup_elem(fd, &key, &v) == 0)
                slots[s] = v;
        }
        std::vector<uint64_t> shown = slots;
        if (interval) { // this interval's counts: the map minus what was shown
            for (uint32_t s = 0; s < kSlots; s++)
                shown[s] -= std::min(shown[s], shown_[h][s]);
            shown_[h] = slots;
        }
        bool lat = spec_.action == Action::Latency;
        if (json_) {
            Json buckets = Json::array();
            for (uint32_t s = 0; s < kSlots; s++) {
                if (!shown[s])
                    continue;
                uint64_t lo = s == 0 ? 0 : (uint64_t{1} << (s - 1));
                uint64_t hi = s == 0 ? 0 : (uint64_t{1} << s) - 1;
                buckets.push_back({{"low", u64(lo)}, {"high", u64(hi)}, {"count", u64(shown[s])}});
            }
            emit(out_, "hist",
                 {{"hook", labels_[h]},
                  {"unit", lat ? "nsecs" : "arg" + std::to_string(spec_.arg)},
                  {"scope", interval ? "interval" : "total"},
                  {"buckets", buckets}});
        } else {
            std::fprintf(out_, "\n@%s %s%s:\n", labels_[h].c_str(),
                         lat ? "latency" : ("arg" + std::to_string(spec_.arg)).c_str(),
                         interval ? " (this interval)" : "");
            print_log2(out_, lat ? "nsecs" : "value", shown);
        }
    }
    std::fflush(out_);
}

} // namespace kview::cli
