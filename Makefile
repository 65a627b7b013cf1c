# bpfree — `make` builds build/libbpfree.a, build/libbpfree.so and build/bpfree;
# `make test` builds and runs the cmocka suite; `make SAN=1 test` does the same
# under AddressSanitizer + UndefinedBehaviorSanitizer (in build-san/).
CC      ?= cc
MAKEFLAGS += --no-print-directory
# BLAS=onednn (default), BLAS=openblas or BLAS=blis: the library of the matrix
# products (src/core/gemm.c), chosen by measurement (BENCHMARKS.md, session 7).
# A build with a non-default library has its own directory (build-openblas,
# build-san-blis, ...) so that all can coexist.
BLAS    ?= onednn
ifneq ($(BLAS),onednn)
BUILD   ?= build$(if $(filter 1,$(SAN)),-san)-$(BLAS)
endif
SAN     ?= 0
# ARCH: the instruction set of bpfree's own code (-march).  The default runs on
# any x86-64; the matrix products, most of the time, are oneDNN's (or OpenBLAS's),
# which pick their kernels for the CPU at run time whatever ARCH is.  Measured (NOTES.md,
# session 7): x86-64 against x86-64-v3 costs no measurable epoch time, and the
# numbers are the same bit for bit (the golden digests pass with either).
# `make ARCH=native` or ARCH=x86-64-v3 builds for a newer CPU.
ARCH    ?= x86-64
TUNE    ?= generic
ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
LDSAN   := -fsanitize=address,undefined,float-cast-overflow
else
BUILD   ?= build
OPT     ?= -O3 -g -march=$(ARCH) -mtune=$(TUNE) -fno-math-errno
LDSAN   :=
endif
# No -ffast-math: it breaks bit-for-bit determinism and IEEE semantics.
# -fno-trapping-math (clang's default) changes no value: it lets GCC turn
# a select between computed values (tanh's clamp, x < 0 ? a : b) into a blend
# and so vectorise the loop; bpfree never unmasks floating-point traps.
# -fvisibility=hidden: the shared library exports only what include/bpfree.h
# declares (its `#pragma GCC visibility push(default)`), i.e. bpfree_*.
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -fPIC -fno-trapping-math $(OPT) \
           -fvisibility=hidden \
           -Iinclude -Isrc $(BLAS_CFLAGS)
# One place finds CBLAS: Debian's OpenBLAS (libopenblas-dev), or with
# BLAS=blis BLIS (Debian's libblis-dev has no pkg-config file: its headers sit
# beside the blis.h the alternatives system points at).  BLIS's headers are
# not warning-free under -Wextra -Werror, hence -isystem.
ifeq ($(BLAS),blis)
BLIS_INC    ?= $(if $(shell pkg-config --exists blis 2>/dev/null && echo y),\
                 $(patsubst -I%,%,$(shell pkg-config --cflags-only-I blis)),\
                 $(dir $(realpath $(firstword $(wildcard /usr/include/*/blis.h /usr/include/blis.h)))))
BLAS_CFLAGS ?= -DBPFREE_BLIS $(addprefix -isystem ,$(BLIS_INC))
BLAS_LIBS   ?= $(shell pkg-config --libs blis 2>/dev/null || echo -lblis)
else ifeq ($(BLAS),onednn)
# oneDNN's dnnl_sgemm (libdnnl-dev); Debian builds it on OpenMP (libgomp)
BLAS_CFLAGS ?= -DBPFREE_DNNL
BLAS_LIBS   ?= -ldnnl -lgomp
else ifeq ($(BLAS),openblas)
BLAS_CFLAGS ?= $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   ?= $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
else
$(error BLAS must be onednn, openblas or blis, not '$(BLAS)')
endif
LDLIBS  += $(BLAS_LIBS) -lz -lm -lpthread
TEST_LIBS ?= -lcmocka

# GCC would take the optimizer's "zero the gradient as it is read" store out
# of the Adam loop and make it a memset pass of its own — the very pass the
# store is there to save (src/optim/optim.c, bp_dense.gzero).
ifeq ($(shell $(CC) --version 2>/dev/null | grep -ci clang),0)
$(BUILD)/obj/src/optim/optim.o: CFLAGS += -fno-tree-loop-distribute-patterns
TEST_WFLAGS := -Wno-format-truncation
endif

LIB_SRC := $(wildcard src/core/*.c src/nn/*.c src/optim/*.c src/engine/*.c src/rules/*.c src/data/*.c src/io/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
DEPS    := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

VERSION := $(shell sed -n 's/^\#define BPFREE_VERSION "\(.*\)"/\1/p' include/bpfree.h)
SONAME  := libbpfree.so.0

all: $(BUILD)/libbpfree.a $(BUILD)/libbpfree.so $(BUILD)/bpfree $(BUILD)/example-train-mnist \
     $(BUILD)/bpfree.1
	@echo "built $(BUILD)/ with BLAS=$(BLAS)"

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the commit the binary is built from, for the log header (src/core/build.c);
# rewritten only when it changes
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- src include 2>/dev/null || echo -dirty)
$(shell mkdir -p $(BUILD)/gen && echo '#define BPFREE_GIT_COMMIT "$(GIT_COMMIT)"' > $(BUILD)/gen/commit.h.new && \
        (cmp -s $(BUILD)/gen/commit.h.new $(BUILD)/gen/commit.h || mv $(BUILD)/gen/commit.h.new $(BUILD)/gen/commit.h); \
        rm -f $(BUILD)/gen/commit.h.new)
$(BUILD)/obj/src/core/build.o: CFLAGS += -I$(BUILD)
$(BUILD)/obj/src/core/build.o: $(BUILD)/gen/commit.h

$(BUILD)/libbpfree.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libbpfree.so.0 (SONAME) is the library; libbpfree.so links to it.
$(BUILD)/$(SONAME): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/libbpfree.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# The man page comes from the same tables as --help (bpfree man).
$(BUILD)/bpfree.1: $(BUILD)/bpfree
	$(BUILD)/bpfree man > $@.tmp && mv $@.tmp $@

$(BUILD)/bpfree: $(CLI_OBJ) $(BUILD)/libbpfree.a
	$(CC) $(LDSAN) -o $@ $(CLI_OBJ) $(BUILD)/libbpfree.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libbpfree.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_WFLAGS) -Itests -o $@ $< $(BUILD)/libbpfree.a $(TEST_LIBS) $(LDLIBS) $(LDSAN)

$(BUILD)/example-train-mnist: examples/train_mnist.c $(BUILD)/libbpfree.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libbpfree.a $(LDLIBS) $(LDSAN)

# bench/NAME.c -> $(BUILD)/bench-NAME
$(BUILD)/bench-%: bench/%.c bench/benchutil.h $(BUILD)/libbpfree.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libbpfree.a $(LDLIBS) $(LDSAN)

bench: $(BUILD)/bpfree $(BUILD)/bench-epoch $(BUILD)/bench-memory $(BUILD)/bench-gemm $(BUILD)/bench-infer $(BUILD)/bench-peak \
       $(BUILD)/bench-cnn_memory
	sh bench/run.sh

tests: $(TESTS) $(BUILD)/bpfree $(BUILD)/example-train-mnist $(BUILD)/bench-epoch $(BUILD)/bench-memory \
       $(BUILD)/bench-infer $(BUILD)/bench-gemm $(BUILD)/bench-cnn_memory

# Data-parallel training over Open MPI: build/bpfree-mpi, the same command
# with its own main (src/dist/mpi.c) linked by mpicc, so that libbpfree and
# bpfree never depend on MPI.  Built, and its agreement test run (tests/mpi.sh
# over tests/dist/agree.c), only where mpicc and mpirun exist (Debian:
# libopenmpi-dev openmpi-bin, installed by scripts/setup.sh).
MPICC   ?= mpicc
MPIRUN  ?= mpirun
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v $(MPIRUN) >/dev/null 2>&1 && echo 1)
DIST_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/dist/*.c))
CLI_CMD_OBJ := $(filter-out $(BUILD)/obj/src/cli/entry.o,$(CLI_OBJ))
MPI_TESTS := $(if $(HAVE_MPI),$(BUILD)/tests/mpi-agree)

$(BUILD)/obj/src/dist/%.o: src/dist/%.c Makefile
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpfree-mpi: $(DIST_OBJ) $(CLI_CMD_OBJ) $(BUILD)/libbpfree.a
	$(MPICC) $(LDSAN) -o $@ $(DIST_OBJ) $(CLI_CMD_OBJ) $(BUILD)/libbpfree.a $(LDLIBS)

$(BUILD)/tests/dist-%: tests/dist/%.c tests/testutil.h $(BUILD)/libbpfree.a
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(TEST_WFLAGS) -Itests -o $@ $< $(BUILD)/libbpfree.a $(TEST_LIBS) $(LDLIBS) $(LDSAN)

# the data-parallel agreement test and the layer-parallel one under mpirun
# for 1, 2 and 4 ranks, as one test binary for tests/run.sh
$(BUILD)/tests/mpi-agree: tests/mpi.sh $(BUILD)/tests/dist-agree $(BUILD)/tests/dist-layers $(BUILD)/bpfree-mpi
	printf '#!/bin/sh\nexec sh %s %s %s %s "$$@"\n' $(abspath tests/mpi.sh) $(abspath $(BUILD)/tests/dist-agree) \
	    $(abspath $(BUILD)/tests/dist-layers) $(MPIRUN) > $@ && chmod +x $@

ifeq ($(HAVE_MPI),1)
mpi: $(BUILD)/bpfree-mpi $(BUILD)/tests/mpi-agree
	@echo "built $(BUILD)/bpfree-mpi ($$($(MPICC) --showme:version 2>/dev/null || echo MPI))"
else
mpi:
	@echo "mpi: skipped ($(MPICC)/$(MPIRUN) not found; scripts/setup.sh installs libopenmpi-dev openmpi-bin)"
endif

# Runs every test binary; the last line is the sum "N passed, N failed".
test: tests $(MPI_TESTS)
	@$(if $(HAVE_MPI),,echo "mpi tests: skipped ($(MPICC)/$(MPIRUN) not found; scripts/setup.sh installs libopenmpi-dev openmpi-bin)";) \
	BPFREE_BIN=$(abspath $(BUILD)/bpfree) sh tests/run.sh $(TESTS) $(MPI_TESTS)

# The whole suite twice: optimised, then under ASan + UBSan; then the
# kill/resume script (SIGKILL and SIGINT, exact resume) and, when clang can
# build libFuzzer harnesses, a few seconds of each fuzzer.
check:
	sh scripts/limits.sh
	$(MAKE) test
	$(MAKE) BLAS=openblas test
	$(MAKE) install-check
	$(MAKE) SAN=1 test
	sh tests/resume.sh $(abspath $(BUILD)/bpfree)
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, long n){(void)d;(void)n;return 0;}' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then \
	    $(MAKE) fuzz FUZZ_SECONDS=3; \
	else echo "fuzz: skipped ($(FUZZ_CC) with libFuzzer not found; scripts/setup.sh installs it)"; fi

# libFuzzer harnesses (fuzz/*.c; clang with compiler-rt's fuzzer, e.g.
# Debian's clang + libclang-rt-14-dev): every library source built with
# ASan + UBSan (float-cast-overflow too) and coverage, each harness run for
# FUZZ_SECONDS on a scratch copy of its committed corpus (fuzz/corpus/NAME,
# read only: new inputs go to build-fuzz/corpus-NAME).  FUZZ_ARGS adds
# libFuzzer options.  See TESTING.md.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_DIR     := build-fuzz
FUZZ_FLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
                -Iinclude -Isrc $(BLAS_CFLAGS)
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

$(FUZZ_DIR)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

.SECONDARY: $(FUZZ_LIB_OBJ)
-include $(FUZZ_LIB_OBJ:.o=.d)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus-$$n; \
	    echo "fuzz $$n: $(FUZZ_SECONDS) s"; \
	    if ! $(FUZZ_DIR)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -timeout=10 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$n- $(FUZZ_ARGS) \
	        $(FUZZ_DIR)/corpus-$$n fuzz/corpus/$$n >$(FUZZ_DIR)/fuzz-$$n.log 2>&1; then \
	        tail -n 40 $(FUZZ_DIR)/fuzz-$$n.log; echo "fuzz $$n: FAILED"; exit 1; fi; \
	    grep -E '^stat::number_of_executed_units' $(FUZZ_DIR)/fuzz-$$n.log; \
	done

# REPRODUCTION.md from the committed logs and bench/repro/cells.tsv
reproduction:
	sh bench/repro/table.sh > REPRODUCTION.md.tmp && mv REPRODUCTION.md.tmp REPRODUCTION.md
	python3 bench/repro/readme_tables.py

# make install PREFIX=DIR [DESTDIR=...]: header, libbpfree.a, libbpfree.so.0
# (+ the .so link), bpfree.pc, the CLI, its man page, the gnuplot script, the
# presets and the Python module (share/bpfree/).
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
I       := $(DESTDIR)$(PREFIX)
install: all
	install -d $(I)/bin $(I)/include $(DESTDIR)$(LIBDIR)/pkgconfig $(I)/share/man/man1 \
	    $(I)/share/bpfree/presets $(I)/share/bpfree/python
	install -m 755 $(BUILD)/bpfree $(I)/bin/bpfree
	install -m 644 include/bpfree.h $(I)/include/bpfree.h
	install -m 644 $(BUILD)/libbpfree.a $(DESTDIR)$(LIBDIR)/libbpfree.a
	install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbpfree.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS@|$(LDLIBS)|' scripts/bpfree.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/bpfree.pc
	install -m 644 $(BUILD)/bpfree.1 $(I)/share/man/man1/bpfree.1
	install -m 644 scripts/compare.gp $(I)/share/bpfree/compare.gp
	install -m 644 presets/*.conf $(I)/share/bpfree/presets/
	install -m 644 python/bpfree.py python/test_bpfree.py python/example_readme_row.py \
	    $(I)/share/bpfree/python/
	@echo "installed bpfree $(VERSION) under $(I)"

# What a user of the installed library does: install into a scratch prefix,
# build the example with pkg-config alone, run it; check that the shared
# library exports only bpfree_* symbols; run the Python module's test.
STAGE   := $(abspath $(BUILD)/stage)
install-check: all
	rm -rf $(STAGE)
	$(MAKE) install PREFIX=$(STAGE)
	sh tests/install_check.sh $(STAGE) $(BUILD)

clean:
	rm -rf build build-san build-blis build-san-blis build-fuzz

.PHONY: all tests test check bench clean mpi install install-check reproduction fuzz fuzz-build
-include $(DEPS)
-include $(DIST_OBJ:.o=.d)
