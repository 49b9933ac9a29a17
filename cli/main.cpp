// kview: trace one process with hooks that fire for it only. This file
// dispatches; trace.cpp (trace, attach), run.cpp (run), info.cpp (version, stat, list),
// report.cpp (what a trace prints), usage.cpp (help and errors).
#include <bpf/libbpf.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.hpp"
#include "usage.hpp"

namespace {

// Without -v libbpf stays silent: kview's own one-line error says what failed.
int libbpf_quiet(enum libbpf_print_level, const char*, va_list) {
    return 0;
}

// `list`, `stat`, `version`: [-f text|json] and, for stat, one VIEW id.
struct SimpleArgs {
    bool json = false;
    const char* view = nullptr;
};

SimpleArgs simple_args(int argc, char** argv, bool takes_view) {
    SimpleArgs a;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            kview::cli::print_usage("");
            std::exit(0);
        }
        if (arg == "-f" || arg == "--format") {
            if (i + 1 >= argc)
                kview::cli::die_usage("option '" + arg + "' needs a value");
            a.json = kview::cli::json_arg(argv[++i]);
        } else if (arg.rfind("--format=", 0) == 0) {
            a.json = kview::cli::json_arg(argv[i] + 9);
        } else if (takes_view && !a.view && arg[0] != '-') {
            a.view = argv[i];
        } else {
            kview::cli::die_usage("unexpected argument '" + arg + "'");
        }
    }
    return a;
}

} // namespace

int main(int argc, char** argv) {
    libbpf_set_print(libbpf_quiet);
    if (argc < 2)
        kview::cli::die_usage("missing command");
    std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
        kview::cli::print_usage("");
        return 0;
    }
    if (cmd == "--version")
        cmd = "version";
    if (cmd == "version" || cmd == "stat" || cmd == "list" || cmd == "trace" || cmd == "attach" ||
        cmd == "run")
        kview::cli::set_command(cmd);
    if (cmd == "version")
        return kview::cli::cmd_version(simple_args(argc - 1, argv + 1, false).json);
    if (cmd == "stat") {
        auto a = simple_args(argc - 1, argv + 1, true);
        return a.view ? kview::cli::cmd_stat_view(a.view, a.json) : kview::cli::cmd_stat(a.json);
    }
    if (cmd == "list")
        return kview::cli::cmd_list(simple_args(argc - 1, argv + 1, false).json);
    if (cmd == "trace")
        return kview::cli::cmd_trace(argc - 1, argv + 1);
    if (cmd == "attach")
        return kview::cli::cmd_attach(argc - 1, argv + 1);
    if (cmd == "run")
        return kview::cli::cmd_run(argc - 1, argv + 1);
    kview::cli::die_usage("unknown command '" + cmd + "'");
}
