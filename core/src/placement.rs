//! Placement: a breaker's `#[repr(C)]` block — the header (`Core`) followed by its ring of
//! buckets — and building one in memory the caller owns (a buffer, the stack, shared memory)
//! or on the heap. Pointer-free and position-independent, so the same bytes work wherever
//! they are mapped. The state machine itself is in `breaker.rs`.

use crate::breaker::{Breaker, Core};
use crate::config::Config;
use crate::sync;
use crate::window::Bucket;

/// A fresh process-wide breaker identity (never 0).
pub(crate) fn next_id() -> u32 {
    loop {
        let id = sync::NEXT_BREAKER_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// Byte offset of the ring in a breaker block of `n` buckets (`#[repr(C)]` layout).
pub(crate) fn ring_offset(n: usize) -> usize {
    let head = core::alloc::Layout::new::<Core>();
    let ring =
        core::alloc::Layout::array::<Bucket>(n).unwrap_or(core::alloc::Layout::new::<Bucket>());
    head.extend(ring).map_or(0, |(_, off)| off)
}

/// Placement: building a breaker in memory the caller owns.
impl Breaker {
    /// The memory layout of a breaker whose ring has `buckets` slots: pass
    /// [`Config::ring_len`] (`buckets × stripes`; the bucket count when the window is not
    /// striped).
    pub fn layout(buckets: u32) -> core::alloc::Layout {
        let head = core::alloc::Layout::new::<Core>();
        let ring = core::alloc::Layout::array::<Bucket>(buckets as usize)
            .unwrap_or(core::alloc::Layout::new::<Bucket>());
        match head.extend(ring) {
            Ok((l, _)) => l.pad_to_align(),
            Err(_) => head,
        }
    }

    /// Build a breaker in `mem`, which must be at least `Breaker::layout(cfg.ring_len()).size()`
    /// bytes and aligned to its `align()`. The breaker borrows the memory for as long as it is
    /// used; it owns no other resource, so dropping the reference is all the clean-up needed.
    pub fn place(
        mem: &mut [core::mem::MaybeUninit<u8>],
        cfg: Config,
    ) -> Result<&Breaker, PlaceError> {
        let layout = Self::layout(cfg.ring_len());
        let ptr = mem.as_mut_ptr();
        if (ptr as usize) % layout.align() != 0 {
            return Err(PlaceError::Misaligned { align: layout.align() });
        }
        if mem.len() < layout.size() {
            return Err(PlaceError::TooSmall { need: layout.size() });
        }
        // SAFETY: `mem` is writable for `layout.size()` bytes at `layout.align()` (checked
        // above) and is exclusively borrowed for the lifetime of the returned reference.
        Ok(unsafe { &*Self::init_raw(ptr.cast(), cfg, next_id()) })
    }

    /// Write a fresh breaker at `ptr` and return a pointer to it that keeps `ptr`'s
    /// provenance (a `Box` can be rebuilt from it).
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `Breaker::layout(cfg.ring_len()).size()` bytes, aligned
    /// to its `align()`, and not otherwise used while the breaker lives.
    pub(crate) unsafe fn init_raw(ptr: *mut u8, cfg: Config, id: u32) -> *mut Breaker {
        let n = cfg.ring_len() as usize;
        let ring_off = ring_offset(n);
        // SAFETY: the caller guarantees the whole block is writable and aligned; `Core` sits at
        // offset 0 and the buckets at `ring_off`, as `#[repr(C)]` lays out `Breaker`.
        unsafe {
            ptr.cast::<Core>().write(Core::new(cfg, id));
            let ring = ptr.add(ring_off).cast::<Bucket>();
            for i in 0..n {
                ring.add(i).write(Bucket::new());
            }
            Self::fat(ptr)
        }
    }

    /// The fat pointer to the breaker whose block starts at `ptr`, built without creating a
    /// reference, so it carries `ptr`'s provenance.
    ///
    /// # Safety
    /// `ptr` must point to an initialised breaker block.
    pub(crate) unsafe fn fat(ptr: *mut u8) -> *mut Breaker {
        // SAFETY: the block starts with its `Core`, whose config holds the bucket count; the
        // slice metadata `n` gives the `#[repr(C)]` slice-tailed struct exactly the block's
        // layout.
        unsafe {
            let n = (*ptr.cast::<Core>()).ring_len() as usize;
            core::ptr::slice_from_raw_parts_mut(ptr.cast::<Bucket>(), n) as *mut Breaker
        }
    }

    /// View a breaker previously built at `ptr` (by [`place`](Self::place), by
    /// [`CircuitBreaker::into_raw`](crate::CircuitBreaker::into_raw), or by the C ABI).
    ///
    /// # Safety
    /// `ptr` must point to a breaker built in place and still alive for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *const u8) -> &'a Breaker {
        // SAFETY: forwarded from the caller; only shared access is created.
        unsafe { &*Self::fat(ptr.cast_mut()) }
    }

    /// The address of this breaker's block, for bindings that hand it out as a handle.
    pub fn as_ptr(&self) -> *const u8 {
        (self as *const Breaker).cast()
    }
}

/// [`Breaker::place`] could not use the memory it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// The buffer is smaller than the breaker needs.
    TooSmall {
        /// Bytes needed.
        need: usize,
    },
    /// The buffer is not aligned as the breaker needs.
    Misaligned {
        /// Alignment needed.
        align: usize,
    },
}

impl core::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlaceError::TooSmall { need } => {
                write!(f, "buffer too small: a breaker needs {need} bytes")
            }
            PlaceError::Misaligned { align } => {
                write!(f, "buffer misaligned: a breaker needs {align}-byte alignment")
            }
        }
    }
}

impl core::error::Error for PlaceError {}

#[cfg(feature = "alloc")]
impl Breaker {
    /// Allocate and build a breaker with `cfg.ring_len()` ring slots on the heap.
    pub(crate) fn boxed(cfg: Config) -> alloc::boxed::Box<Breaker> {
        let layout = Self::layout(cfg.ring_len());
        // SAFETY: `layout` has non-zero size (it holds at least the `Core`).
        let ptr = unsafe { alloc::alloc::alloc(layout) };
        if ptr.is_null() {
            alloc::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` is a fresh allocation of exactly `layout`; `init_raw` fills it, and
        // `Box` will free it with `Layout::for_value`, which for this `#[repr(C)]` slice-tailed
        // struct equals `layout`.
        unsafe { alloc::boxed::Box::from_raw(Self::init_raw(ptr, cfg, next_id())) }
    }
}
