//! Loom models of `ringbreaker`'s concurrency invariants live in `tests/`; they compile to
//! nothing unless built with `RUSTFLAGS="--cfg ringbreaker_loom"` (see README.md).
