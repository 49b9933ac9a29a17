// The kview command's behaviour that needs no module, as NAME / RUN /
// EXPECT rows: exit status, and a pattern the output (stdout + stderr)
// must match. Runs the built binary on the host (no /dev/kview there).
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

struct Run {
    int status = -1;
    std::string out;
};

Run kview(const std::string& args) {
    Run r;
    std::string cmd = std::string(KVIEW_CLI_PATH) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;)
        r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

struct Case {
    const char* name;
    const char* run;
    int status;
    const char* expect; // ECMAScript regex, searched in the output
};

const Case kCases[] = {
    {"version without the module", "version", 0, "kview CLI .*\nlibkview .*\nABI [0-9]+\\.[0-9]+"},
    {"--version is version", "--version", 0, "module not loaded|module [^ ]+ \\(ABI"},
    {"trace -h: trace usage", "trace -h", 0, "^usage: kview trace "},
    {"attach --help: attach usage", "attach --help", 0, "^usage: kview attach "},
    {"unknown short option named", "trace -x", 2,
     "^kview trace: unknown option '-x'\nTry 'kview trace --help'.\n$"},
    {"unknown long option named", "trace --bogus -p 1", 2,
     "^kview trace: unknown option '--bogus'\n"},
    {"missing value", "trace -p", 2, "^kview trace: option '-p' needs a value\n"},
    {"-d 0 is an error", "trace -p 1 -k vfs_read -d 0", 2, "-d must be more than 0, not '0'"},
    {"-i 0 is an error", "trace -p 1 -k vfs_read -i 0s", 2, "-i must be more than 0"},
    {"bad duration", "trace -p 1 -k vfs_read -d 5parsecs", 2, "^kview trace: .*5parsecs"},
    {"no target", "trace -k vfs_read", 2, "^kview trace: needs one of -p PID or -c"},
    {"attach without object", "attach -p 1", 2, "^kview attach: needs -p PID and --obj FILE"},
    {"unknown command", "frobnicate", 2,
     "^kview: unknown command 'frobnicate'\nTry 'kview --help'.\n$"},
    {"no command", "", 2, "^kview: missing command"},
    {"list needs the module", "list", 1, "^kview: module not loaded"},
    {"list takes no argument", "list extra", 2, "^kview list: unexpected argument 'extra'"},
    {"bad format", "list -f yaml", 2, "-f takes text or json"},
    {"run --help: run usage", "run --help", 0, "^usage: kview run \\(-p PID \\| -c CMD\\)"},
    {"run without target", "run -- bpftrace -e x", 2,
     "^kview run: needs one of -p PID or -c CMD\nTry 'kview run --help'.\n$"},
    {"run with both targets", "run -p 1 -c true -- bpftrace", 2,
     "^kview run: needs one of -p PID or -c"},
    {"run without tool", "run -p 1", 2, "^kview run: needs a tool after --"},
    {"run: unknown option named", "run --bogus -p 1 -- x", 2,
     "^kview run: unknown option '--bogus'\n"},
    {"run: bad pid", "run -p abc -- x", 2, "^kview run: .*abc"},
    {"run: the tool's options are not ours", "run -p 1 -- bpftrace --bogus", 1,
     "^kview: .*(kprobe|module)"},
};

TEST(CliUsage, Table) {
    for (const auto& c : kCases) {
        auto r = kview(c.run);
        EXPECT_EQ(r.status, c.status) << c.name << ": kview " << c.run << "\n" << r.out;
        EXPECT_TRUE(std::regex_search(r.out, std::regex(c.expect)))
            << c.name << ": kview " << c.run << "\n"
            << r.out;
        if (c.status == 2) {
            EXPECT_LE(lines(r.out), 2u) << c.name << ": a usage error is two lines\n" << r.out;
        }
    }
}

TEST(CliUsage, TraceHelpIsTraceOnly) {
    auto r = kview("trace --help");
    EXPECT_EQ(r.out.find("attach options"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--dry-run"), std::string::npos) << r.out;
}

TEST(CliUsage, RunHelpIsRunOnly) {
    auto r = kview("run --help");
    EXPECT_EQ(r.out.find("trace options"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--allow-global"), std::string::npos) << r.out;
    EXPECT_NE(kview("--help").out.find("run options"), std::string::npos);
}

TEST(CliUsage, VersionJsonParses) {
    auto r = kview("version -f json");
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    EXPECT_EQ(j["type"], "version");
    EXPECT_TRUE(j["time"].is_string());
    EXPECT_TRUE(j["cli"].is_string());
}

} // namespace
