// The kview subcommands: each returns the process exit status.
#pragma once

namespace kview::cli {

int cmd_trace(int argc, char** argv);  // trace.cpp
int cmd_attach(int argc, char** argv); // trace.cpp
int cmd_run(int argc, char** argv);    // run.cpp
int cmd_version(bool json);            // info.cpp
int cmd_stat(bool json);
int cmd_stat_view(const char* id, bool json);
int cmd_list(bool json);

} // namespace kview::cli
