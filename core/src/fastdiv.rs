//! Division by a divisor fixed at construction, without a hardware divide on the hot path.
//!
//! A record maps its timestamp to a bucket with two divisions (`t / width`, `period % buckets`).
//! A 64-bit `div` costs 20–40 cycles on current x86 cores, several times the atomic add it
//! precedes, so the divisor's reciprocal is computed once and each division becomes a widening
//! multiply plus at most two corrections.

/// A precomputed divisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastDiv {
    d: u64,
    /// `floor(2^64 / d)`, or `2^64 - 1` for `d == 1` (where the true value does not fit).
    inv: u64,
}

impl FastDiv {
    /// `d` must be non-zero; `Config` validation guarantees it.
    pub(crate) const fn new(d: u64) -> Self {
        let d = if d == 0 { 1 } else { d };
        let inv = if d == 1 { u64::MAX } else { ((1u128 << 64) / d as u128) as u64 };
        Self { d, inv }
    }

    /// The divisor.
    #[inline]
    pub(crate) const fn divisor(&self) -> u64 {
        self.d
    }

    /// `(n / d, n % d)`.
    ///
    /// With `inv >= 2^64/d - 1`, `n * inv / 2^64 > n/d - 1`, so `q = floor(n * inv / 2^64)` is
    /// `n/d` or one less: one correction, and the remainder falls out of it for free.
    #[inline(always)]
    pub(crate) const fn div_rem(&self, n: u64) -> (u64, u64) {
        let mut q = ((n as u128 * self.inv as u128) >> 64) as u64;
        let mut r = n - q * self.d;
        if r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }
}

#[cfg(test)]
mod tests {
    use super::FastDiv;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        for d in [1u64, 2, 3, 7, 10, 1_000_000_000, u64::MAX / 3, u64::MAX - 1, u64::MAX] {
            let f = FastDiv::new(d);
            for n in [0u64, 1, d - 1, d, d.saturating_add(1), u64::MAX - 1, u64::MAX] {
                assert_eq!(f.div_rem(n), (n / d, n % d), "n={n} d={d}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_hardware_division(n in any::<u64>(), d in 1u64..) {
            prop_assert_eq!(FastDiv::new(d).div_rem(n), (n / d, n % d));
        }

        #[test]
        fn matches_for_small_divisors(n in any::<u64>(), d in 1u64..100_000) {
            prop_assert_eq!(FastDiv::new(d).div_rem(n), (n / d, n % d));
        }
    }
}
