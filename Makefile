# ringbreaker: the entry points. `make demo` and `make test` do all set-up on a fresh machine.

CARGO ?= cargo
THUMB := thumbv7em-none-eabihf

.PHONY: demo test lint bench rust-test embedded doc fmt-check clippy targets

demo:
	$(CARGO) run --quiet --release -p ringbreaker --example demo

test: rust-test embedded lint

rust-test:
	$(CARGO) test --workspace

targets:
	@rustup target list --installed | grep -qx $(THUMB) || rustup target add $(THUMB)

# The firmware build: no std, no alloc, 64-bit atomics from portable-atomic. The crate itself
# declares a const-constructed `static` breaker, so this build proves that path compiles too.
embedded: targets
	$(CARGO) build -p ringbreaker --no-default-features --target $(THUMB)
	$(CARGO) build -p ringbreaker --no-default-features --features alloc --target $(THUMB)

lint: fmt-check clippy doc

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p ringbreaker --no-default-features -- -D warnings

doc:
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --workspace --no-deps

bench:
	@echo "benches arrive with the benchmarks issue"
