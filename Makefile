# kview: build the module (kernel build system) and the userspace (CMake).
#
#   make               module + userspace
#   make test          install deps, build, host tests + guest tests (all variants)
#   make demo          install deps, build, boot the guest and run the demo,
#                      then the quick benchmark (bench/run.sh --quick, ~10 min)
#   make bench         the benchmarks, published: instruction time (icount, 25-55 min) to
#                      docs/results.md, then wall-clock TCG (quick, ~10 min) to docs/results-tcg.md
#   make style         checkpatch.pl on the module (if a kernel tree provides it)
#   make check         module with W=1 and sparse (C=2)
#
# KDIR selects the kernel build tree; the default is the installed Debian
# linux-headers matching the installed linux-image that the guest boots.

KVER    ?= $(shell tests/vm/kver.sh 2>/dev/null)
KDIR    ?= /lib/modules/$(KVER)/build
BUILD   ?= build
WERROR  ?= $(if $(CI),ON,OFF)
JOBS    ?= $(shell nproc)

.PHONY: all module userspace deps test demo bench reliability style check clean

all: module userspace

module:
	@test -d "$(KDIR)" || { echo "kernel build tree '$(KDIR)' not found: run 'make deps' or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVIEW_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

deps:
	tests/vm/install-deps.sh

test: deps
	$(MAKE) all KDIR=$(KDIR)
	ctest --test-dir $(BUILD) --output-on-failure

demo: deps
	$(MAKE) all KDIR=$(KDIR)
	tests/vm/run-guest.sh --variant 4l --env KVIEW_BUILD_DIR=$(abspath $(BUILD)) -- tests/guest/demo.sh
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --quick
	@echo "demo: OK: the traced process got its events, the untraced one entered no hook; quick benchmark report in $(BUILD)/bench-out/quick/report/results.md"

bench: deps
	$(MAKE) all KDIR=$(KDIR)
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --icount --full --publish
	KVIEW_BUILD_DIR=$(BUILD) bench/run.sh --quick --publish

# The long hardening runs (docs/reliability.md): 10 min of ioctl fuzzing
# across the four variants, then the 30 min soak in one boot.
reliability: deps
	$(MAKE) all KDIR=$(KDIR)
	KVIEW_BUILD_DIR=$(BUILD) tests/guest/fuzz-all.sh 150
	KVIEW_BUILD_DIR=$(BUILD) tests/guest/soak.sh 1800

# checkpatch.pl: from the kernel build tree if it ships it (Debian's headers
# do not), else extracted from Debian's linux-source package (apt-get install
# linux-source-6.1) into $(BUILD)/checkpatch.
CHECKPATCH ?= $(firstword $(wildcard $(KDIR)/scripts/checkpatch.pl $(BUILD)/checkpatch/scripts/checkpatch.pl))
LINUX_SOURCE = $(firstword $(wildcard /usr/src/linux-source-*.tar.xz))
KMOD_SOURCES = $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h) include/uapi/linux/kview.h
style:
	@cp=$(CHECKPATCH); \
	if [ -z "$$cp" ] && [ -n "$(LINUX_SOURCE)" ]; then \
		mkdir -p $(BUILD)/checkpatch && \
		tar -xJf $(LINUX_SOURCE) -C $(BUILD)/checkpatch --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' && \
		cp=$(BUILD)/checkpatch/scripts/checkpatch.pl; \
	fi; \
	if [ -z "$$cp" ]; then echo "checkpatch.pl not found: apt-get install linux-source-6.1, or set CHECKPATCH=" >&2; exit 1; fi; \
	$$cp --no-tree --strict --show-types --ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES -f $(KMOD_SOURCES)

check:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 C=2 modules

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
