//! The configuration limits as C macros (cbindgen writes these `pub const`s as `#define`s),
//! equal to the core's, which a test checks. The version macros `RINGBREAKER_VERSION_*` are
//! written into the header from `Cargo.toml`'s workspace version by `make header`.

/// Largest `buckets` an `rb_config` may have.
pub const RB_MAX_BUCKETS: u32 = 4096;
/// Largest `half_open_permits` an `rb_config` may have.
pub const RB_MAX_HALF_OPEN_PERMITS: u32 = 511;
/// Largest `stripes` an `rb_config` may have (a power of two).
pub const RB_MAX_STRIPES: u32 = 64;
/// Largest `buckets × stripes` an `rb_config` may have.
pub const RB_MAX_RING_SLOTS: u32 = 65_536;

#[cfg(test)]
mod tests {
    #[test]
    fn limits_are_the_cores() {
        assert_eq!(super::RB_MAX_BUCKETS, ringbreaker::MAX_BUCKETS);
        assert_eq!(super::RB_MAX_HALF_OPEN_PERMITS, ringbreaker::MAX_HALF_OPEN_PERMITS);
        assert_eq!(super::RB_MAX_STRIPES, ringbreaker::MAX_STRIPES);
        assert_eq!(super::RB_MAX_RING_SLOTS, ringbreaker::MAX_RING_SLOTS);
    }
}
