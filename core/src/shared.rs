//! One breaker shared by many processes on one host (feature `std`, Unix).
//!
//! A shared breaker is a file — by default under `/dev/shm` — mapped with `mmap(MAP_SHARED)`
//! by every process that opens it. The file holds a header, a small journal of recent
//! transitions, and the ordinary breaker block (the same `#[repr(C)]`, pointer-free block a
//! [`CircuitBreaker`](crate::CircuitBreaker) keeps on the heap):
//!
//! ```text
//! offset 0    Header      magic, format version, ready flag, creator pid (a fixed prefix every
//!                         version keeps), then file size, offsets, region id, creation time,
//!                         layout hash + layout facts, config hash + config fields, checksum
//! journal     64 slots    the most recent transitions, slot = generation % 64 (seqlocked)
//! breaker     block       the breaker itself, aligned as `Breaker::layout` says
//! ```
//!
//! Creation and attachment: the first opener creates the file with `O_EXCL`, takes an
//! exclusive `flock`, sizes it, writes the header and the breaker, and publishes a ready flag.
//! Every other opener waits for the flag (bounded by [`SharedOptions::wait`]). A creator that
//! dies mid-creation (its `flock` is released by the kernel) is detected: the next opener
//! re-initialises the file under the lock and says so ([`Opened::Recovered`]). Nobody but
//! [`SharedBreaker::unlink`] ever removes the file.
//!
//! Attaching checks everything two processes must agree on — format version, layout (struct
//! sizes, field offsets, atomic width, endianness, crate version), and the configuration — and
//! refuses with an error naming what differs. A truncated or corrupted file is refused before
//! it is mapped past what it holds.
//!
//! Time: every process must pass times from one host-wide clock. [`SharedBreaker::now_ns`]
//! reads `CLOCK_MONOTONIC` (the same clock as C's `rb_now_ns()` and Python's shared breakers).
//! [`now_ns`](crate::now_ns) counts from each process's first read and must not be used with a
//! shared breaker, nor [`Breaker::call`] / [`Breaker::acquire`], which read it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::Ordering;
// Where 64-bit atomics are not native the header still compiles (with portable-atomic's
// types), but `open` refuses before mapping anything: their lock fallback is per process.
#[cfg(target_has_atomic = "64")]
use core::sync::atomic::{AtomicU32, AtomicU64};
use core::time::Duration;
#[cfg(not(target_has_atomic = "64"))]
use portable_atomic::{AtomicU32, AtomicU64};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::breaker::{Breaker, SHARED_CONFIG_OFFSET, shared_layout_facts};
use crate::config::Config;
use crate::state::State;
use crate::types::{Metrics, Outcome, Permit, Reason, RecordError, Rejected, Transition};

/// `b"RBSHARED"` read as a native-endian `u64` by the writer.
const MAGIC: u64 = u64::from_ne_bytes(*b"RBSHARED");
/// Version of the file format (header, journal, block placement). Bump on any change.
pub const FORMAT_VERSION: u32 = 1;
/// Value of the ready flag once the creator has finished.
const READY: u32 = 0x5245_4459; // "REDY"
/// Slots in the transition journal.
pub const JOURNAL_SLOTS: usize = 64;
/// Most layout facts a header can hold.
const MAX_FACTS: usize = 48;
/// A not-ready file whose creator never took the creation lock is presumed abandoned after
/// this long (the creator takes the lock microseconds after creating the file).
const CREATION_GRACE: Duration = Duration::from_secs(1);

/// The header at offset 0 of a shared region. The first 24 bytes are the same in every format
/// version; the rest is covered by `checksum`.
#[repr(C)]
struct Header {
    magic: u64,
    format_version: u32,
    header_size: u32,
    ready: AtomicU32,
    creator_pid: u32,
    // ---- covered by the checksum ----
    file_size: u64,
    journal_offset: u64,
    journal_slots: u64,
    breaker_offset: u64,
    breaker_size: u64,
    region_id: u64,
    created_unix_ns: u64,
    layout_hash: u64,
    layout_count: u64,
    layout: [u64; MAX_FACTS],
    config_hash: u64,
    config: [u64; CONFIG_FIELDS],
    checksum: u64,
}

const PREFIX: usize = 24;
const _: () = assert!(offset_of!(Header, file_size) == PREFIX);
const _: () = assert!(offset_of!(Header, ready) == 16);

/// One journal slot: `seq` is 0 when empty, `(generation + 1) << 1` when complete, odd while
/// being written. `info` packs from, to, reason and generation.
#[repr(C)]
struct Slot {
    seq: AtomicU64,
    at: AtomicU64,
    info: AtomicU64,
    _pad: u64,
}

/// Where things are in a region for a configuration.
#[derive(Clone, Copy)]
struct Plan {
    journal_offset: usize,
    breaker_offset: usize,
    breaker_size: usize,
    file_size: usize,
}

fn round_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

impl Plan {
    fn for_config(cfg: &Config) -> Plan {
        let layout = Breaker::layout(cfg.ring_len());
        let journal_offset = round_up(size_of::<Header>(), 64);
        let breaker_offset =
            round_up(journal_offset + JOURNAL_SLOTS * size_of::<Slot>(), layout.align().max(64));
        Plan {
            journal_offset,
            breaker_offset,
            breaker_size: layout.size(),
            file_size: breaker_offset + layout.size(),
        }
    }
}

/// FNV-1a, 64-bit: a stable hash with no dependency.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn hash_words(words: &[u64]) -> u64 {
    fnv(words.iter().flat_map(|w| w.to_le_bytes()))
}

/// Everything about this build's layout a process attaching the region must share, by name.
fn layout_facts() -> Vec<(&'static str, u64)> {
    let mut v = alloc::vec![
        ("format version", u64::from(FORMAT_VERSION)),
        ("crate version (hash)", fnv(env!("CARGO_PKG_VERSION").bytes())),
        ("endianness (1 = little)", u64::from(cfg!(target_endian = "little"))),
        ("pointer width", usize::BITS as u64),
        ("size of AtomicU64 (atomic width)", size_of::<AtomicU64>() as u64),
        ("align of AtomicU64", align_of::<AtomicU64>() as u64),
        ("size of Header", size_of::<Header>() as u64),
        ("size of a journal slot", size_of::<Slot>() as u64),
        ("journal slots", JOURNAL_SLOTS as u64),
        ("size of Config", size_of::<Config>() as u64),
        ("offset of Config.window_ns", offset_of!(Config, window_ns) as u64),
        ("offset of Config.buckets", offset_of!(Config, buckets) as u64),
        ("offset of Config.failure_rate", offset_of!(Config, failure_rate) as u64),
        ("offset of Config.half_open_permits", offset_of!(Config, half_open_permits) as u64),
        ("offset of Config.open_ns", offset_of!(Config, open_ns) as u64),
        ("offset of Config.half_open_timeout_ns", offset_of!(Config, half_open_timeout_ns) as u64),
        ("offset of Config.width", offset_of!(Config, width) as u64),
        ("offset of Config.ring", offset_of!(Config, ring) as u64),
        ("offset of Config.stripes", offset_of!(Config, stripes) as u64),
    ];
    v.extend(shared_layout_facts());
    // Every fact must fit the header; a debug build (every test run) says so if one would not.
    debug_assert!(v.len() <= MAX_FACTS, "{} layout facts, room for {MAX_FACTS}", v.len());
    v.truncate(MAX_FACTS);
    v
}

const CONFIG_FIELDS: usize = 13;
const CONFIG_NAMES: [&str; CONFIG_FIELDS] = [
    "window_ns",
    "buckets",
    "minimum_calls",
    "failure_rate",
    "slow_call_rate",
    "slow_call_ns",
    "consecutive_failures",
    "half_open_permits",
    "open_ns",
    "max_open_ns",
    "backoff_multiplier",
    "half_open_timeout_ns",
    "stripes",
];
/// Which config fields are `f64` (stored as their bits).
const CONFIG_FLOAT: [bool; CONFIG_FIELDS] =
    [false, false, false, true, true, false, false, false, false, false, true, false, false];

fn config_words(c: &Config) -> [u64; CONFIG_FIELDS] {
    [
        c.window_ns,
        u64::from(c.buckets),
        u64::from(c.minimum_calls),
        c.failure_rate.to_bits(),
        c.slow_call_rate.to_bits(),
        c.slow_call_ns,
        u64::from(c.consecutive_failures),
        u64::from(c.half_open_permits),
        c.open_ns,
        c.max_open_ns,
        c.backoff_multiplier.to_bits(),
        c.half_open_timeout_ns,
        u64::from(c.stripes),
    ]
}

fn show_config_word(i: usize, w: u64) -> String {
    if CONFIG_FLOAT[i] { alloc::format!("{}", f64::from_bits(w)) } else { alloc::format!("{w}") }
}

/// A shared region could not be opened. Every variant names the path and what was wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum SharedError {
    /// A system call failed.
    Io {
        /// What was being done (`open`, `flock`, `mmap`, ...).
        op: &'static str,
        /// The region's path.
        path: PathBuf,
        /// The error the system reported.
        source: io::Error,
    },
    /// This target's 64-bit atomics are not lock-free (they come from `portable-atomic`'s
    /// lock-based fallback, whose locks are private to each process), so a breaker cannot be
    /// shared between processes here.
    AtomicsNotLockFree,
    /// The name is empty or holds a character other than ASCII letters, digits, `.`, `_`, `-`.
    InvalidName(String),
    /// The file is not a shared breaker region (wrong magic, or bytes where a creation was
    /// expected).
    NotARegion {
        /// The region's path.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The region was written in another format version.
    Version {
        /// The region's path.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// This build's version.
        expected: u32,
    },
    /// The region was created by a build whose breaker layout differs from this one.
    Layout {
        /// The region's path.
        path: PathBuf,
        /// Each fact that differs: `name: region value vs this build's value`.
        differences: String,
    },
    /// The region holds a breaker with another configuration.
    Config {
        /// The region's path.
        path: PathBuf,
        /// Each field that differs: `name: region value vs requested value`.
        differences: String,
    },
    /// The file is shorter than its header says.
    Truncated {
        /// The region's path.
        path: PathBuf,
        /// The file's size in bytes.
        size: u64,
        /// The size its header (or the requested configuration) needs.
        expected: u64,
    },
    /// The header or the breaker block is inconsistent (checksum, offsets, stored config).
    Corrupt {
        /// The region's path.
        path: PathBuf,
        /// What was inconsistent.
        detail: String,
    },
    /// The creator is alive and still holds the creation lock, but did not finish within the
    /// wait allowed.
    CreationTimeout {
        /// The region's path.
        path: PathBuf,
        /// The creator's process id, if it had written it.
        creator_pid: u32,
        /// How long this opener waited.
        waited: Duration,
    },
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, source } => write!(f, "{}: {op} failed: {source}", path.display()),
            Self::AtomicsNotLockFree => f.write_str(
                "shared breakers need lock-free 64-bit atomics; this target has none (its \
                 portable-atomic fallback uses locks private to each process)",
            ),
            Self::InvalidName(n) => write!(
                f,
                "invalid shared breaker name {n:?}: use 1 to 200 ASCII letters, digits, '.', '_' \
                 or '-' (or give a path)"
            ),
            Self::NotARegion { path, detail } => {
                write!(f, "{}: not a ringbreaker shared region: {detail}", path.display())
            }
            Self::Version { path, found, expected } => write!(
                f,
                "{}: region format version {found}, this build reads version {expected}",
                path.display()
            ),
            Self::Layout { path, differences } => write!(
                f,
                "{}: region was created by a build with another breaker layout ({differences})",
                path.display()
            ),
            Self::Config { path, differences } => write!(
                f,
                "{}: region holds a breaker with another configuration ({differences})",
                path.display()
            ),
            Self::Truncated { path, size, expected } => write!(
                f,
                "{}: region truncated: the file is {size} bytes, its header needs {expected}",
                path.display()
            ),
            Self::Corrupt { path, detail } => {
                write!(f, "{}: region corrupt: {detail}", path.display())
            }
            Self::CreationTimeout { path, creator_pid, waited } => write!(
                f,
                "{}: creator (pid {creator_pid}) is alive but did not finish creating the region \
                 within {:.3} s",
                path.display(),
                waited.as_secs_f64()
            ),
        }
    }
}

impl core::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How [`SharedBreaker::open_with`] opens a region.
#[derive(Clone, Copy, Debug)]
pub struct SharedOptions {
    /// How long to wait for another process to finish creating the region (default 5 s).
    pub wait: Duration,
    /// Permission bits of a file this open creates (default `0o600`; the umask applies). Use
    /// `0o660` to share with a group.
    pub mode: u32,
    /// Test support: a creator sleeps this long after writing its pid, holding the creation
    /// lock, so a test can kill it mid-creation.
    #[doc(hidden)]
    pub stall_mid_creation: Option<Duration>,
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions { wait: Duration::from_secs(5), mode: 0o600, stall_mid_creation: None }
    }
}

/// How this open got its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// This open created and initialised the region.
    Created,
    /// The region existed and was ready; this open attached to it.
    Attached,
    /// A previous creator died mid-creation (pid, 0 if it had not written it); this open
    /// initialised the region in its place.
    Recovered {
        /// The dead creator's process id, or 0 if unknown.
        dead_pid: u32,
    },
}

/// What a region's header says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// File format version.
    pub format_version: u32,
    /// Process id of the creator.
    pub creator_pid: u32,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// The breaker id stamped into permits: drawn at random when the region was created (top
    /// bit set), the same in every process.
    pub region_id: u32,
    /// Hash of the layout facts.
    pub layout_hash: u64,
    /// Hash of the configuration.
    pub config_hash: u64,
    /// Size of the file in bytes.
    pub file_size: u64,
}

/// Transitions read from the journal: see [`SharedBreaker::history`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Transitions after the generation asked for, oldest first, each at most once.
    pub transitions: Vec<Transition>,
    /// Generations after the one asked for whose transition the journal no longer (or never)
    /// held: overwritten by 64 newer ones, made through [`SharedBreaker::breaker`] without
    /// [`SharedBreaker::journal`], or still being written.
    pub missed: u32,
    /// The current generation: pass it as `since` next time.
    pub generation: u32,
}

/// One breaker in a file mapped by many processes. See the [module docs](self).
///
/// Transitions made through this type's methods are journaled for the other processes
/// ([`history`](Self::history)). The breaker itself, [`breaker`](Self::breaker), takes the
/// same calls; transitions made there directly are journaled only if passed to
/// [`journal`](Self::journal).
pub struct SharedBreaker {
    base: *mut u8,
    len: usize,
    block: *const Breaker,
    path: PathBuf,
    opened: Opened,
}

// SAFETY: the mapping is shared memory accessed only through atomics (the breaker block and
// the journal) or read-only after the ready flag (the header); the pointers stay valid until
// `drop`.
unsafe impl Send for SharedBreaker {}
// SAFETY: as for `Send`: every method takes `&self` and touches the mapping only atomically.
unsafe impl Sync for SharedBreaker {}

impl fmt::Debug for SharedBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBreaker")
            .field("path", &self.path)
            .field("opened", &self.opened)
            .field("breaker", &self.breaker())
            .finish()
    }
}

fn io_err(op: &'static str, path: &Path) -> SharedError {
    SharedError::Io { op, path: path.to_path_buf(), source: io::Error::last_os_error() }
}

/// A file descriptor closed on drop.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

fn cpath(path: &Path) -> Result<CString, SharedError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SharedError::Io {
        op: "open",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
    })
}

fn file_size(fd: &Fd, path: &Path) -> Result<(u64, std::time::SystemTime), SharedError> {
    // SAFETY: `st` is a valid out-pointer for fstat.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `fd.0` is an open descriptor.
    if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
        return Err(io_err("fstat", path));
    }
    let mtime = std::time::UNIX_EPOCH
        + Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec.clamp(0, 999_999_999) as u32);
    Ok((st.st_size.max(0) as u64, mtime))
}

/// Read up to `buf.len()` bytes at offset 0; the count read.
fn pread_all(fd: &Fd, buf: &mut [u8], path: &Path) -> Result<usize, SharedError> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the destination range lies inside `buf`.
        let n = unsafe {
            libc::pread(
                fd.0,
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
                done as libc::off_t,
            )
        };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_err("read", path));
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    Ok(done)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// A random region id with its top bit set, so it never equals the small per-process ids
/// private breakers get from their counter.
fn random_id() -> u32 {
    let mut bytes = [0u8; 4];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    let r = if ok {
        u32::from_ne_bytes(bytes)
    } else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        fnv(t.to_le_bytes().into_iter().chain(std::process::id().to_le_bytes())) as u32
    };
    0x8000_0000 | r
}

fn flock(fd: &Fd, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: `fd.0` is an open descriptor.
        if unsafe { libc::flock(fd.0, op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What a pread of the header shows.
enum Seen {
    /// Ready: a header copy to validate.
    Ready(Vec<u8>),
    /// Not ready; the creator pid if written, and whether the prefix is ours or all zeros.
    NotReady { pid: u32, ours_or_blank: bool, size: u64, mtime: std::time::SystemTime },
}

fn look(fd: &Fd, path: &Path) -> Result<Seen, SharedError> {
    let (size, mtime) = file_size(fd, path)?;
    let mut buf = alloc::vec![0u8; size_of::<Header>()];
    let n = pread_all(fd, &mut buf, path)?;
    if n >= PREFIX && u32_at(&buf, 16) == READY {
        buf.truncate(n);
        return Ok(Seen::Ready(buf));
    }
    let head = &buf[..n.min(PREFIX)];
    let magic_ok = n >= 8 && u64_at(&buf, 0) == MAGIC;
    let blank = head.iter().all(|&b| b == 0);
    let pid = if n >= PREFIX && magic_ok { u32_at(&buf, 20) } else { 0 };
    Ok(Seen::NotReady { pid, ours_or_blank: magic_ok || blank, size, mtime })
}

/// Check a header copy (at least `size_of::<Header>()` bytes, or it is corrupt) against this
/// build and `cfg`; the header on success.
fn validate(buf: &[u8], file_len: u64, cfg: &Config, path: &Path) -> Result<Header, SharedError> {
    let p = || path.to_path_buf();
    let magic = if buf.len() >= 8 { u64_at(buf, 0) } else { 0 };
    if magic != MAGIC {
        let detail = if magic.swap_bytes() == MAGIC {
            "written by a process of the other byte order".into()
        } else {
            alloc::format!("magic is {magic:#018x}, expected {MAGIC:#018x}")
        };
        return Err(SharedError::NotARegion { path: p(), detail });
    }
    let version = u32_at(buf, 8);
    if version != FORMAT_VERSION {
        return Err(SharedError::Version { path: p(), found: version, expected: FORMAT_VERSION });
    }
    let header_size = u32_at(buf, 12) as usize;
    if header_size != size_of::<Header>() {
        return Err(SharedError::Layout {
            path: p(),
            differences: alloc::format!("size of Header: {header_size} vs {}", size_of::<Header>()),
        });
    }
    if buf.len() < size_of::<Header>() || file_len < size_of::<Header>() as u64 {
        return Err(SharedError::Truncated {
            path: p(),
            size: file_len,
            expected: size_of::<Header>() as u64,
        });
    }
    // SAFETY: `buf` holds `size_of::<Header>()` bytes; every field of `Header` is an integer
    // (or an atomic integer) for which any bit pattern is valid; `read_unaligned` copies.
    let h: Header = unsafe { buf.as_ptr().cast::<Header>().read_unaligned() };
    let covered = &buf[PREFIX..offset_of!(Header, checksum)];
    if fnv(covered.iter().copied()) != h.checksum {
        return Err(SharedError::Corrupt {
            path: p(),
            detail: "header checksum does not match its contents".into(),
        });
    }
    if file_len < h.file_size {
        return Err(SharedError::Truncated { path: p(), size: file_len, expected: h.file_size });
    }
    let facts = layout_facts();
    let count = h.layout_count as usize;
    let mine: Vec<u64> = facts.iter().map(|f| f.1).collect();
    if count != facts.len() || h.layout[..count.min(MAX_FACTS)] != mine[..] {
        let mut d = Vec::new();
        if count != facts.len() {
            d.push(alloc::format!("number of layout facts: {count} vs {}", facts.len()));
        }
        for (i, (name, v)) in facts.iter().enumerate().take(count.min(MAX_FACTS)) {
            if h.layout[i] != *v {
                d.push(alloc::format!("{name}: {} vs {v}", h.layout[i]));
            }
        }
        return Err(SharedError::Layout { path: p(), differences: d.join("; ") });
    }
    let want = config_words(cfg);
    if h.config != want {
        let d: Vec<String> = (0..CONFIG_FIELDS)
            .filter(|&i| h.config[i] != want[i])
            .map(|i| {
                alloc::format!(
                    "{}: {} in the region vs {} requested",
                    CONFIG_NAMES[i],
                    show_config_word(i, h.config[i]),
                    show_config_word(i, want[i])
                )
            })
            .collect();
        return Err(SharedError::Config { path: p(), differences: d.join("; ") });
    }
    let plan = Plan::for_config(cfg);
    let consistent = h.config_hash == hash_words(&want)
        && h.layout_hash == hash_words(&mine)
        && h.file_size == plan.file_size as u64
        && h.journal_offset == plan.journal_offset as u64
        && h.journal_slots == JOURNAL_SLOTS as u64
        && h.breaker_offset == plan.breaker_offset as u64
        && h.breaker_size == plan.breaker_size as u64
        && h.region_id >> 31 == 1
        && h.region_id <= u64::from(u32::MAX);
    if !consistent {
        return Err(SharedError::Corrupt {
            path: p(),
            detail: "header offsets, sizes or hashes are inconsistent".into(),
        });
    }
    Ok(h)
}

/// A mapping, unmapped on drop unless released.
struct Map {
    base: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: &Fd, len: usize, path: &Path) -> Result<Map, SharedError> {
        // SAFETY: a fresh shared mapping of an open descriptor; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.0,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io_err("mmap", path));
        }
        Ok(Map { base: p.cast(), len })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping is at least a header long and page-aligned.
        unsafe { &*self.base.cast::<Header>() }
    }

    fn release(self) -> (*mut u8, usize) {
        let m = core::mem::ManuallyDrop::new(self);
        (m.base, m.len)
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe a mapping this value owns.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

impl SharedBreaker {
    /// Open the shared breaker at `path`, creating it with `cfg` if it does not exist, with
    /// default [`SharedOptions`].
    pub fn open(path: impl AsRef<Path>, cfg: Config) -> Result<SharedBreaker, SharedError> {
        Self::open_with(path, cfg, &SharedOptions::default())
    }

    /// The default path for a region named `name`: `/dev/shm/ringbreaker.<name>` where
    /// `/dev/shm` exists, else the same file in the temporary directory.
    pub fn default_path(name: &str) -> Result<PathBuf, SharedError> {
        let ok = !name.is_empty()
            && name.len() <= 200
            && name != "."
            && name != ".."
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(SharedError::InvalidName(name.into()));
        }
        let dir = Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        Ok(dir.join(alloc::format!("ringbreaker.{name}")))
    }

    /// Remove the region's file. Processes that have it mapped keep using it; a later open of
    /// the path creates a new, separate region. Nothing else ever removes the file.
    pub fn unlink(path: impl AsRef<Path>) -> Result<(), SharedError> {
        let path = path.as_ref();
        std::fs::remove_file(path).map_err(|source| SharedError::Io {
            op: "unlink",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Nanoseconds on `CLOCK_MONOTONIC`: one clock for every process on the host. Pass these
    /// times to a shared breaker.
    pub fn now_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        if rc != 0 {
            return 0;
        }
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(
        path: impl AsRef<Path>,
        cfg: Config,
        opts: &SharedOptions,
    ) -> Result<SharedBreaker, SharedError> {
        let path = path.as_ref();
        if !cfg!(target_has_atomic = "64") {
            return Err(SharedError::AtomicsNotLockFree);
        }
        let c = cpath(path)?;
        let start = Instant::now();
        loop {
            // SAFETY: `c` is a NUL-terminated path.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    opts.mode as libc::c_uint,
                )
            };
            if fd >= 0 {
                let fd = Fd(fd);
                flock(&fd, libc::LOCK_EX).map_err(|source| SharedError::Io {
                    op: "flock",
                    path: path.to_path_buf(),
                    source,
                })?;
                // Under the lock: a slow creator may find its file already recovered.
                if let Seen::Ready(_) = look(&fd, path)? {
                    drop(fd);
                    continue;
                }
                return Self::initialise(fd, path, cfg, Opened::Created, opts.stall_mid_creation);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(SharedError::Io { op: "create", path: path.to_path_buf(), source: e });
            }
            // SAFETY: `c` is a NUL-terminated path.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
            if fd < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOENT) {
                    continue; // unlinked between the two opens: create it
                }
                return Err(SharedError::Io { op: "open", path: path.to_path_buf(), source: e });
            }
            let fd = Fd(fd);
            match Self::attach_or_recover(fd, path, cfg, opts, start)? {
                Some(b) => return Ok(b),
                None => continue,
            }
        }
    }

    /// Wait for the region at `fd` to be ready and attach, or recover it from a dead creator.
    /// `None`: start over (the file changed identity).
    fn attach_or_recover(
        fd: Fd,
        path: &Path,
        cfg: Config,
        opts: &SharedOptions,
        start: Instant,
    ) -> Result<Option<SharedBreaker>, SharedError> {
        let mut sleep = Duration::from_micros(50);
        loop {
            match look(&fd, path)? {
                Seen::Ready(buf) => {
                    let (size, _) = file_size(&fd, path)?;
                    validate(&buf, size, &cfg, path)?;
                    return Self::map_ready(&fd, path, cfg, size).map(Some);
                }
                Seen::NotReady { pid, ours_or_blank, size, mtime } => {
                    if !ours_or_blank {
                        let detail = alloc::format!(
                            "{size} bytes that are neither a ready region nor one being created"
                        );
                        return Err(SharedError::NotARegion { path: path.to_path_buf(), detail });
                    }
                    // A creator sizes the file in one step, before writing anything: a size
                    // between zero and a header is a truncated region, not a creation.
                    if size > 0 && size < size_of::<Header>() as u64 {
                        return Err(SharedError::Truncated {
                            path: path.to_path_buf(),
                            size,
                            expected: size_of::<Header>() as u64,
                        });
                    }
                    // The creator holds the lock from just after creating the file until it is
                    // ready. A free lock means it is gone — unless it has not taken it yet (no
                    // pid written, and the file is younger than the grace period).
                    // SAFETY: `fd.0` is an open descriptor.
                    let free = unsafe { libc::flock(fd.0, libc::LOCK_EX | libc::LOCK_NB) } == 0;
                    if free {
                        let age = mtime.elapsed().unwrap_or(Duration::ZERO);
                        if pid != 0 || age >= CREATION_GRACE {
                            // Re-check under the lock we now hold, then take over.
                            match look(&fd, path)? {
                                Seen::Ready(_) => {
                                    flock(&fd, libc::LOCK_UN).ok();
                                    continue;
                                }
                                Seen::NotReady { ours_or_blank: true, pid, .. } => {
                                    let dead_pid = pid;
                                    let opened = Opened::Recovered { dead_pid };
                                    return Self::initialise(fd, path, cfg, opened, None).map(Some);
                                }
                                Seen::NotReady { .. } => continue,
                            }
                        }
                        flock(&fd, libc::LOCK_UN).ok();
                    }
                    let waited = start.elapsed();
                    if waited >= opts.wait {
                        return Err(SharedError::CreationTimeout {
                            path: path.to_path_buf(),
                            creator_pid: pid,
                            waited,
                        });
                    }
                    std::thread::sleep(sleep);
                    sleep = (sleep * 2).min(Duration::from_millis(10));
                }
            }
        }
    }

    /// Map a ready region whose header copy validated, and check the mapped copy too.
    fn map_ready(
        fd: &Fd,
        path: &Path,
        cfg: Config,
        size: u64,
    ) -> Result<SharedBreaker, SharedError> {
        let plan = Plan::for_config(&cfg);
        let map = Map::new(fd, plan.file_size, path)?;
        // The ready flag, read with Acquire through the mapping, orders everything after it.
        if map.header().ready.load(Ordering::Acquire) != READY {
            return Err(SharedError::Corrupt {
                path: path.to_path_buf(),
                detail: "ready flag cleared while attaching".into(),
            });
        }
        // SAFETY: the mapping holds `plan.file_size` bytes, at least a header.
        let bytes = unsafe { core::slice::from_raw_parts(map.base, size_of::<Header>()) };
        let h = validate(bytes, size, &cfg, path)?;
        // The config stored in the block sizes the breaker's ring: check it before building a
        // reference from it.
        // SAFETY: the block lies inside the mapping (validated offsets); `Config` is plain
        // data of integers and floats, valid for any bits.
        let stored: Config = unsafe {
            map.base
                .add(plan.breaker_offset + SHARED_CONFIG_OFFSET)
                .cast::<Config>()
                .read_unaligned()
        };
        if stored != cfg {
            return Err(SharedError::Corrupt {
                path: path.to_path_buf(),
                detail: "the breaker block's configuration differs from its header's".into(),
            });
        }
        // SAFETY: an initialised breaker block for `cfg` lives at this offset (the ready flag
        // says the creator finished; its stored config matches), for as long as the mapping.
        let block = unsafe { Breaker::from_raw(map.base.add(plan.breaker_offset)) };
        if block.id() != h.region_id as u32 {
            return Err(SharedError::Corrupt {
                path: path.to_path_buf(),
                detail: alloc::format!(
                    "breaker id {:#x} differs from the header's region id {:#x}",
                    block.id(),
                    h.region_id
                ),
            });
        }
        let block: *const Breaker = block;
        let (base, len) = map.release();
        Ok(SharedBreaker { base, len, block, path: path.to_path_buf(), opened: Opened::Attached })
    }

    /// Size the file, write header, journal and breaker, publish ready. `fd` holds the lock.
    fn initialise(
        fd: Fd,
        path: &Path,
        cfg: Config,
        opened: Opened,
        stall: Option<Duration>,
    ) -> Result<SharedBreaker, SharedError> {
        let plan = Plan::for_config(&cfg);
        // SAFETY: `fd.0` is an open descriptor.
        if unsafe { libc::ftruncate(fd.0, plan.file_size as libc::off_t) } != 0 {
            return Err(io_err("ftruncate", path));
        }
        let map = Map::new(&fd, plan.file_size, path)?;
        let base = map.base;
        // SAFETY: the mapping is `plan.file_size` bytes, writable, and nobody reads past the
        // prefix until `ready` is published (we hold the creation lock).
        unsafe {
            let h = &*base.cast::<Header>();
            h.ready.store(0, Ordering::Release);
            core::ptr::write_bytes(base.add(PREFIX), 0, plan.breaker_offset - PREFIX);
            base.cast::<u64>().write_volatile(MAGIC);
            base.add(8).cast::<u32>().write_volatile(FORMAT_VERSION);
            base.add(12).cast::<u32>().write_volatile(size_of::<Header>() as u32);
            base.add(20).cast::<u32>().write_volatile(std::process::id());
        }
        if let Some(stall) = stall {
            // Test support: hold the creation half-done so a test can kill the creator here.
            std::thread::sleep(stall);
        }
        let region_id = random_id();
        let facts = layout_facts();
        let mut layout = [0u64; MAX_FACTS];
        for (i, f) in facts.iter().enumerate() {
            layout[i] = f.1;
        }
        let words = config_words(&cfg);
        let created_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // SAFETY: as above; the block offset is aligned for the breaker (plan) and the block
        // is exclusively ours until `ready`.
        unsafe {
            let h = base.cast::<Header>();
            (&raw mut (*h).file_size).write(plan.file_size as u64);
            (&raw mut (*h).journal_offset).write(plan.journal_offset as u64);
            (&raw mut (*h).journal_slots).write(JOURNAL_SLOTS as u64);
            (&raw mut (*h).breaker_offset).write(plan.breaker_offset as u64);
            (&raw mut (*h).breaker_size).write(plan.breaker_size as u64);
            (&raw mut (*h).region_id).write(u64::from(region_id));
            (&raw mut (*h).created_unix_ns).write(created_unix_ns);
            (&raw mut (*h).layout_hash).write(hash_words(&layout[..facts.len()]));
            (&raw mut (*h).layout_count).write(facts.len() as u64);
            (&raw mut (*h).layout).write(layout);
            (&raw mut (*h).config_hash).write(hash_words(&words));
            (&raw mut (*h).config).write(words);
            let covered = core::slice::from_raw_parts(
                base.add(PREFIX),
                offset_of!(Header, checksum) - PREFIX,
            );
            (&raw mut (*h).checksum).write(fnv(covered.iter().copied()));
            Breaker::init_raw(base.add(plan.breaker_offset), cfg, region_id);
            (*h).ready.store(READY, Ordering::Release);
        }
        flock(&fd, libc::LOCK_UN).ok();
        drop(fd);
        // SAFETY: the block was just initialised at this offset and lives as long as the map.
        let block: *const Breaker = unsafe { Breaker::from_raw(base.add(plan.breaker_offset)) };
        let (base, len) = map.release();
        Ok(SharedBreaker { base, len, block, path: path.to_path_buf(), opened })
    }

    /// The region's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this open created the region, attached to it, or recovered it.
    pub fn opened(&self) -> Opened {
        self.opened
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a validated header.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// What the header says.
    pub fn info(&self) -> RegionInfo {
        let h = self.header();
        RegionInfo {
            format_version: h.format_version,
            creator_pid: h.creator_pid,
            created_unix_ns: h.created_unix_ns,
            region_id: h.region_id as u32,
            layout_hash: h.layout_hash,
            config_hash: h.config_hash,
            file_size: h.file_size,
        }
    }

    /// The breaker in the region. Its methods work as on any breaker (times must come from
    /// [`now_ns`](Self::now_ns)); a transition they return is journaled only if passed to
    /// [`journal`](Self::journal).
    pub fn breaker(&self) -> &Breaker {
        // SAFETY: the block lives as long as the mapping, which lives as long as `self`.
        unsafe { &*self.block }
    }

    /// The address of the breaker block (what C's `rb_shared_open` hands out).
    pub fn as_ptr(&self) -> *const u8 {
        self.breaker().as_ptr()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        self.breaker().config()
    }

    /// The breaker id stamped into permits: the region's, the same in every process.
    pub fn id(&self) -> u32 {
        self.breaker().id()
    }

    fn slots(&self) -> &[Slot] {
        // SAFETY: the journal lies inside the mapping at the validated offset; slots hold only
        // atomics and padding.
        unsafe {
            core::slice::from_raw_parts(
                self.base.add(self.header().journal_offset as usize).cast::<Slot>(),
                JOURNAL_SLOTS,
            )
        }
    }

    /// Put a transition in the journal for the other processes. The methods of this type do it
    /// for the transitions they return; call this only for one obtained through
    /// [`breaker`](Self::breaker). Each generation has one slot, so journaling a transition
    /// twice changes nothing.
    pub fn journal(&self, t: &Transition) {
        let slot = &self.slots()[t.generation as usize % JOURNAL_SLOTS];
        let done = (u64::from(t.generation) + 1) << 1;
        let mut cur = slot.seq.load(Ordering::Acquire);
        loop {
            if cur == done {
                return;
            }
            // A slot already holding (or being written for) a newer generation stays as it is.
            if cur != 0 {
                let held = ((cur >> 1) - 1) as u32;
                if (held.wrapping_sub(t.generation) as i32) > 0 {
                    return;
                }
            }
            match slot.seq.compare_exchange_weak(cur, done | 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(found) => cur = found,
            }
        }
        let info = u64::from(t.from as u8)
            | (u64::from(t.to as u8) << 8)
            | (u64::from(t.reason as u8) << 16)
            | (u64::from(t.generation) << 32);
        slot.at.store(t.at, Ordering::Relaxed);
        slot.info.store(info, Ordering::Relaxed);
        slot.seq.store(done, Ordering::Release);
    }

    fn journaled<T>(&self, t: Option<Transition>, r: T) -> T {
        if let Some(t) = t {
            self.journal(&t);
        }
        r
    }

    /// The transition of generation `generation`, if the journal holds it.
    fn read_slot(&self, generation: u32) -> Option<Transition> {
        let slot = &self.slots()[generation as usize % JOURNAL_SLOTS];
        let want = (u64::from(generation) + 1) << 1;
        if slot.seq.load(Ordering::Acquire) != want {
            return None;
        }
        let at = slot.at.load(Ordering::Relaxed);
        let info = slot.info.load(Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != want || (info >> 32) as u32 != generation {
            return None;
        }
        Some(Transition {
            from: State::from_u8(info as u8)?,
            to: State::from_u8((info >> 8) as u8)?,
            reason: Reason::from_u8((info >> 16) as u8)?,
            generation,
            at,
        })
    }

    /// Transitions after generation `since`, from the journal: what this process missed. Every
    /// transition bumps the generation by one, so `missed` counts exactly the transitions after
    /// `since` the journal cannot show.
    pub fn history(&self, since: u32) -> History {
        let current = self.breaker().snapshot(0).generation;
        let behind = current.wrapping_sub(since);
        let mut out = History { generation: current, ..History::default() };
        if behind == 0 || behind > i32::MAX as u32 {
            return out;
        }
        let first = if behind as usize > JOURNAL_SLOTS {
            out.missed = behind - JOURNAL_SLOTS as u32;
            current.wrapping_sub(JOURNAL_SLOTS as u32 - 1)
        } else {
            since.wrapping_add(1)
        };
        let mut g = first;
        loop {
            match self.read_slot(g) {
                Some(t) => out.transitions.push(t),
                None => out.missed += 1,
            }
            if g == current {
                break;
            }
            g = g.wrapping_add(1);
        }
        out
    }

    /// [`Breaker::try_acquire`], journaling the transition it makes.
    pub fn try_acquire(&self, now: u64) -> Result<Permit, Rejected> {
        match self.breaker().try_acquire(now) {
            Ok(p) => self.journaled(p.transition(), Ok(p)),
            Err(r) => self.journaled(r.transition, Err(r)),
        }
    }

    /// [`Breaker::try_acquire_without_time`] (it never makes a transition).
    pub fn try_acquire_without_time(&self) -> Option<Permit> {
        self.breaker().try_acquire_without_time()
    }

    /// [`Breaker::record`], journaling the transition it makes.
    pub fn record(&self, permit: Permit, outcome: Outcome, now: u64) -> Option<Transition> {
        let t = self.breaker().record(permit, outcome, now);
        self.journaled(t, t)
    }

    /// [`Breaker::record_timed`], journaling the transition it makes.
    pub fn record_timed(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: u64,
        now: u64,
    ) -> Option<Transition> {
        let t = self.breaker().record_timed(permit, outcome, duration_ns, now);
        self.journaled(t, t)
    }

    /// [`Breaker::try_record`], journaling the transition it makes.
    pub fn try_record(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, RecordError> {
        let r = self.breaker().try_record(permit, outcome, duration_ns, now);
        self.journaled(r.ok().flatten(), r)
    }

    /// [`Breaker::retry_after`].
    pub fn retry_after(&self, now: u64) -> Option<u64> {
        self.breaker().retry_after(now)
    }

    /// [`Breaker::trip`], journaled.
    pub fn trip(&self, now: u64) -> Option<Transition> {
        let t = self.breaker().trip(now);
        self.journaled(t, t)
    }

    /// [`Breaker::force_open`], journaled.
    pub fn force_open(&self, now: u64) -> Option<Transition> {
        let t = self.breaker().force_open(now);
        self.journaled(t, t)
    }

    /// [`Breaker::disable`], journaled.
    pub fn disable(&self, now: u64) -> Option<Transition> {
        let t = self.breaker().disable(now);
        self.journaled(t, t)
    }

    /// [`Breaker::metrics_only`], journaled.
    pub fn metrics_only(&self, now: u64) -> Option<Transition> {
        let t = self.breaker().metrics_only(now);
        self.journaled(t, t)
    }

    /// [`Breaker::reset`], journaled.
    pub fn reset(&self, now: u64) -> Option<Transition> {
        let t = self.breaker().reset(now);
        self.journaled(t, t)
    }

    /// [`Breaker::state`].
    pub fn state(&self, now: u64) -> State {
        self.breaker().state(now)
    }

    /// [`Breaker::snapshot`].
    pub fn snapshot(&self, now: u64) -> Metrics {
        self.breaker().snapshot(now)
    }
}

impl Drop for SharedBreaker {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this value and nothing borrowed from it outlives it.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
