// The benchmark's BPF skeleton (bpftool gen skeleton of bpf/bench.bpf.c),
// with the warnings its generated C code raises in C++ turned off.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "kview_bench.skel.h"
#pragma GCC diagnostic pop
