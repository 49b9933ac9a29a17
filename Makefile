# kview: build the module (kernel build system) and the userspace (CMake).
#
#   make               module + userspace
#   make test          install deps, build, host tests + guest tests (all variants
#                      on 6.1; 6.12 5l-pti and 4l; 6.12-rt 4l: docs/compat.md)
#   make demo          install deps, build, boot the guest and run the demo,
#                      then the quick benchmark (bench/run.sh --quick, ~10 min)
#   make bench         the benchmarks, published: instruction time (icount, 25-55 min) to
#                      docs/results.md, then wall-clock TCG (quick, ~10 min) to docs/results-tcg.md
#   make style         checkpatch.pl on the module (if a kernel tree provides it)
#   make check         module with W=1 and sparse (C=2)
#
# The module is built for every installed kernel that has an image and
# headers (tests/vm/kver.sh --all), each into its own directory:
# $(BUILD)/kmod/<kernel release>/kview.ko. KVER=<release> or KDIR=<build tree>
# on the command line builds for that kernel only. KVER (default:
# tests/vm/kver.sh, i.e. the 6.1 kernel, or KVIEW_KVER=6.12 / 6.12-rt) is also
# the kernel that `make check`, `make style` and `make clean` use.

KVER    ?= $(shell tests/vm/kver.sh 2>/dev/null)
KDIR    ?= /lib/modules/$(KVER)/build
BUILD   ?= build
WERROR  ?= $(if $(CI),ON,OFF)
JOBS    ?= $(shell nproc)

ifneq ($(filter command line,$(origin KDIR)),)
# an explicit build tree: its release names the output directory
MODULE_KVERS := $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null || echo custom)
kdir_of = $(KDIR)
else ifneq ($(filter command line,$(origin KVER)),)
MODULE_KVERS := $(KVER)
kdir_of = /lib/modules/$(1)/build
else
MODULE_KVERS := $(shell tests/vm/kver.sh --all 2>/dev/null)
kdir_of = /lib/modules/$(1)/build
endif
KMOD_OUT = $(abspath $(BUILD))/kmod
# the sources, linked into each kernel's output directory (kbuild writes its
# objects next to the sources of an external module)
KMOD_LINKS = Kbuild $(notdir $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h))

.PHONY: all module userspace deps test demo bench reliability style check clean

all: module userspace

module: $(addprefix module/,$(MODULE_KVERS))
	@test -n "$(MODULE_KVERS)" || { echo "no kernel with both an image and headers: run 'make deps' or set KDIR=" >&2; exit 1; }

# module/<release>: $(BUILD)/kmod/<release>/kview.ko; KVIEW_KBUILD_FLAGS adds
# kbuild options (make check: W=1 C=2).
module/%:
	@test -d "$(call kdir_of,$*)" || { echo "kernel build tree '$(call kdir_of,$*)' not found: run 'make deps' or set KDIR=" >&2; exit 1; }
	@mkdir -p $(KMOD_OUT)/$*
	@for f in $(KMOD_LINKS); do ln -sfn $(CURDIR)/kmod/$$f $(KMOD_OUT)/$*/$$f; done
	$(MAKE) -C $(call kdir_of,$*) M=$(KMOD_OUT)/$* KVIEW_SRC=$(CURDIR) $(KVIEW_KBUILD_FLAGS) modules

userspace:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVIEW_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

deps:
	tests/vm/install-deps.sh

test: deps
	$(MAKE) all
	ctest --test-dir $(BUILD) --output-on-failure -j2 --resource-spec-file $(CURDIR)/tests/host/ctest-resources.json

demo: deps
	$(MAKE) all
	tests/vm/run-guest.sh --variant 4l --env KVIEW_BUILD_DIR=$(abspath $(BUILD)) -- tests/guest/demo.sh
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --quick
	@echo "demo: OK: the traced process got its events, the untraced one entered no hook; quick benchmark report in $(BUILD)/bench-out/quick/report/results.md"

bench: deps
	$(MAKE) all
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --icount --full --publish
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --quick --publish

# The long hardening runs (docs/reliability.md): 10 min of ioctl fuzzing
# across the four variants, then the 30 min soak in one boot.
reliability: deps
	$(MAKE) all
	KVIEW_BUILD_DIR=$(BUILD) tests/host/fuzz-all.sh 150
	KVIEW_BUILD_DIR=$(BUILD) tests/host/soak.sh 1800

# checkpatch.pl: from the kernel build tree if it ships it (Debian's headers
# do not), else extracted from Debian's linux-source package (apt-get install
# linux-source-6.1) into $(BUILD)/checkpatch.
CHECKPATCH ?= $(firstword $(wildcard $(KDIR)/scripts/checkpatch.pl $(BUILD)/checkpatch/scripts/checkpatch.pl))
LINUX_SOURCE = $(firstword $(wildcard /usr/src/linux-source-*.tar.xz))
KMOD_SOURCES = $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h) include/uapi/linux/kview.h
# The compat layer is the one place that tests the kernel version (what an
# in-tree driver never does): LINUX_VERSION_CODE, the comparison checkpatch
# reads as constant-first, and declarator-building macros are its job there.
KMOD_COMPAT = kmod/compat.h kmod/compat.c
KMOD_COMPAT_IGNORE = LINUX_VERSION_CODE,CONSTANT_COMPARISON,MACRO_ARG_PRECEDENCE
style:
	@cp=$(CHECKPATCH); \
	if [ -z "$$cp" ] && [ -n "$(LINUX_SOURCE)" ]; then \
		mkdir -p $(BUILD)/checkpatch && \
		tar -xJf $(LINUX_SOURCE) -C $(BUILD)/checkpatch --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' && \
		cp=$(BUILD)/checkpatch/scripts/checkpatch.pl; \
	fi; \
	if [ -z "$$cp" ]; then echo "checkpatch.pl not found: apt-get install linux-source-6.1, or set CHECKPATCH=" >&2; exit 1; fi; \
	$$cp --no-tree --strict --show-types --ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES -f $(filter-out $(KMOD_COMPAT),$(KMOD_SOURCES)) && \
	$$cp --no-tree --strict --show-types --ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES,$(KMOD_COMPAT_IGNORE) -f $(KMOD_COMPAT)

# W=1 and sparse, for every kernel `make module` builds for (KVER= for one);
# kbuild rebuilds what was compiled with other flags.
check:
	$(MAKE) module KVIEW_KBUILD_FLAGS="W=1 C=2"

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
