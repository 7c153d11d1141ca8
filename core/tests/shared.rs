//! One breaker shared by several processes: creation races, attach checks, refusals of
//! mismatched / truncated / corrupt files, processes killed mid-creation and while holding a
//! half-open trial, and several processes hammering one region.
//!
//! Child processes are this test binary run again with `RB_SHM_ROLE` set: the `child` test
//! does the role's work and prints lines starting with `@@` for the parent to parse.
// Not under miri: it cannot map files, fork or exec; the same code runs natively here and in
// the C tests under ASan and valgrind.
#![cfg(all(unix, not(miri)))]

extern crate alloc;

use alloc::collections::{BTreeMap, BTreeSet};
use core::time::Duration;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use ringbreaker::shared::{Opened, SharedBreaker, SharedError, SharedOptions};
use ringbreaker::{Config, Outcome, PermitKind, Reason, State};

const MS: u64 = 1_000_000;

fn region(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rb-shm-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Removes the file when the test ends, pass or fail.
struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn cfg() -> Config {
    Config::builder()
        .window_ns(3_600_000 * MS)
        .buckets(6)
        .minimum_calls(1_000_000_000)
        .failure_rate(0.5)
        .build()
        .unwrap()
}

/// Half-open heavy: trips after 3 failures in a row, opens 50 µs, 2 trials.
fn churn_cfg() -> Config {
    Config::builder()
        .window_ns(3_600_000 * MS)
        .buckets(6)
        .minimum_calls(1_000_000_000)
        .consecutive_failures(3)
        .open_ns(50_000)
        .half_open_permits(2)
        .half_open_timeout_ns(3_600_000 * MS)
        .build()
        .unwrap()
}

/// Trial leases: open 200 ms, one trial, lapses after 300 ms.
fn lease_cfg() -> Config {
    Config::builder()
        .window_ns(60_000 * MS)
        .buckets(6)
        .minimum_calls(1_000_000)
        .open_ns(200 * MS)
        .half_open_permits(1)
        .half_open_timeout_ns(300 * MS)
        .build()
        .unwrap()
}

fn spawn(role: &str, path: &Path, extra: &[(&str, String)]) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
        .env("RB_SHM_ROLE", role)
        .env("RB_SHM_PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn lines(child: Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("@@ ").map(str::to_owned))
        .collect()
}

fn sigkill(child: &mut Child) {
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait(); // reaped: its pid is gone and its locks released
}

/// The role a child process plays; a no-op in the normal test run.
#[test]
fn child() {
    let Ok(role) = std::env::var("RB_SHM_ROLE") else { return };
    let path = PathBuf::from(std::env::var("RB_SHM_PATH").unwrap());
    let arg = |k: &str| std::env::var(k).unwrap();
    match role.as_str() {
        "race" => {
            let go = PathBuf::from(arg("RB_SHM_GO"));
            while !go.exists() {
                core::hint::spin_loop();
            }
            let s = SharedBreaker::open(&path, cfg()).unwrap();
            println!("@@ {:?} {:#x}", s.opened(), s.id());
        }
        "stall" => {
            let opts = SharedOptions {
                stall_mid_creation: Some(Duration::from_secs(30)),
                ..SharedOptions::default()
            };
            let _ = SharedBreaker::open_with(&path, cfg(), &opts);
        }
        "totals" => {
            let s = SharedBreaker::open(&path, cfg()).unwrap();
            let n: u64 = arg("RB_SHM_N").parse().unwrap();
            for i in 0..n {
                let now = SharedBreaker::now_ns();
                let p = s.try_acquire(now).unwrap();
                let o = if i % 4 == 0 { Outcome::Failure } else { Outcome::Success };
                assert!(s.record(p, o, now).is_none());
            }
            println!("@@ done");
        }
        "reject" => {
            let s = SharedBreaker::open(&path, cfg()).unwrap();
            let n: u64 = arg("RB_SHM_N").parse().unwrap();
            for _ in 0..n {
                assert!(s.try_acquire(SharedBreaker::now_ns()).is_err());
            }
            println!("@@ done");
        }
        "churn" => {
            let s = SharedBreaker::open(&path, churn_cfg()).unwrap();
            let n: u64 = arg("RB_SHM_N").parse().unwrap();
            let mut x: u64 = u64::from(std::process::id()) | 1;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let now = SharedBreaker::now_ns();
                let t = match s.try_acquire(now) {
                    Ok(p) => {
                        if p.kind() == PermitKind::Trial {
                            println!("@@ trial {}", p.generation());
                        }
                        if let Some(t) = p.transition() {
                            println!("@@ transition {} {:?} {:?}", t.generation, t.from, t.to);
                        }
                        let o = if x % 3 == 0 { Outcome::Failure } else { Outcome::Success };
                        s.record(p, o, SharedBreaker::now_ns())
                    }
                    Err(r) => r.transition,
                };
                if let Some(t) = t {
                    println!("@@ transition {} {:?} {:?}", t.generation, t.from, t.to);
                }
            }
            println!("@@ done");
        }
        "trial" => {
            let s = SharedBreaker::open(&path, lease_cfg()).unwrap();
            let now = SharedBreaker::now_ns();
            let p = s.try_acquire(now).expect("a trial permit");
            assert_eq!(p.kind(), PermitKind::Trial);
            println!("@@ trial {} {now}", p.generation());
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(60)); // killed while holding it
            drop(p);
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn create_attach_and_share_transitions() {
    let path = region("attach");
    let _c = Cleanup(path.clone());
    let a = SharedBreaker::open(&path, cfg()).unwrap();
    let b = SharedBreaker::open(&path, cfg()).unwrap();
    assert_eq!(a.opened(), Opened::Created);
    assert_eq!(b.opened(), Opened::Attached);
    assert_eq!(a.id(), b.id());
    assert_ne!(a.id() & 0x8000_0000, 0, "region ids have the top bit set");
    assert_eq!(a.info(), b.info());
    assert_eq!(a.info().creator_pid, std::process::id());
    // A permit issued through one mapping is recorded through the other.
    let p = a.try_acquire(10).unwrap();
    assert!(b.record(p, Outcome::Failure, 11).is_none());
    assert_eq!(a.snapshot(12), b.snapshot(12));
    assert_eq!(b.snapshot(12).failures, 1);
    let t = a.trip(20).unwrap();
    assert_eq!(b.state(21), State::Open);
    // Generations start at 1: a fresh observer starts from the generation it first sees.
    let h = b.history(1);
    assert_eq!(h.transitions, vec![t]);
    assert_eq!((h.missed, h.generation), (0, 2));
    // A transition made on the raw breaker is missed, and said so, until journaled.
    let t2 = b.breaker().reset(30).unwrap();
    let h = a.history(2);
    assert_eq!((h.transitions.len(), h.missed, h.generation), (0, 1, 3));
    b.journal(&t2);
    assert_eq!(a.history(2).transitions, vec![t2]);
    // The journal keeps the last 64 generations; older ones are counted as missed.
    for i in 0..100 {
        a.trip(100 + 2 * i);
        a.reset(101 + 2 * i);
    }
    let h = b.history(1);
    assert_eq!(h.generation, 203);
    assert_eq!(h.transitions.len(), 64);
    assert_eq!(h.missed, 202 - 64);
    assert_eq!(h.transitions.last().unwrap().reason, Reason::Reset);
    assert!(h.transitions.windows(2).all(|w| w[1].generation == w[0].generation + 1));
    drop(a);
    drop(b);
    assert!(path.exists(), "closing never unlinks");
    SharedBreaker::unlink(&path).unwrap();
    assert!(!path.exists());
}

#[test]
fn creation_race_has_one_initialiser() {
    for round in 0..3 {
        let path = region(&format!("race{round}"));
        let go = region(&format!("go{round}"));
        let _c = (Cleanup(path.clone()), Cleanup(go.clone()));
        let kids: Vec<Child> = (0..6)
            .map(|_| spawn("race", &path, &[("RB_SHM_GO", go.display().to_string())]))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&go, b"go").unwrap();
        let out: Vec<String> = kids.into_iter().flat_map(lines).collect();
        assert_eq!(out.len(), 6);
        let created = out.iter().filter(|l| l.starts_with("Created")).count();
        let attached = out.iter().filter(|l| l.starts_with("Attached")).count();
        assert_eq!((created, attached), (1, 5), "{out:?}");
        let ids: BTreeSet<&str> = out.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
        assert_eq!(ids.len(), 1, "one region id: {out:?}");
    }
}

#[test]
fn config_mismatch_is_refused_naming_fields() {
    let path = region("config");
    let _c = Cleanup(path.clone());
    let _a = SharedBreaker::open(&path, cfg()).unwrap();
    let other = Config::builder()
        .window_ns(3_600_000 * MS)
        .buckets(6)
        .minimum_calls(1_000_000_000)
        .failure_rate(0.25)
        .open_ns(7 * MS)
        .build()
        .unwrap();
    let e = SharedBreaker::open(&path, other).unwrap_err();
    eprintln!("config mismatch: {e}");
    assert!(matches!(e, SharedError::Config { .. }));
    let msg = e.to_string();
    assert!(msg.contains("failure_rate: 0.5 in the region vs 0.25 requested"), "{msg}");
    assert!(msg.contains("open_ns: 5000000000 in the region vs 7000000 requested"), "{msg}");
    assert!(!msg.contains("window_ns"), "{msg}");
    // Another bucket count: another file size too, still reported as the config.
    let e = SharedBreaker::open(
        &path,
        Config::builder()
            .window_ns(3_600_000 * MS)
            .buckets(3)
            .minimum_calls(1_000_000_000)
            .build()
            .unwrap(),
    )
    .unwrap_err();
    eprintln!("bucket mismatch: {e}");
    assert!(e.to_string().contains("buckets: 6 in the region vs 3 requested"), "{e}");
}

// Header offsets (format version 1), for tests that patch a file by hand.
const VERSION_AT: u64 = 8;
const LAYOUT_AT: u64 = 96;
const CONFIG_AT: u64 = 488;
const CHECKSUM_AT: u64 = 592;

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn patch(path: &Path, at: u64, bytes: &[u8], fix_checksum: bool) {
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
    if fix_checksum {
        let mut covered = vec![0u8; (CHECKSUM_AT - 24) as usize];
        f.seek(SeekFrom::Start(24)).unwrap();
        f.read_exact(&mut covered).unwrap();
        f.seek(SeekFrom::Start(CHECKSUM_AT)).unwrap();
        f.write_all(&fnv(&covered).to_ne_bytes()).unwrap();
    }
}

fn fresh(tag: &str) -> (PathBuf, Cleanup) {
    let path = region(tag);
    drop(SharedBreaker::open(&path, cfg()).unwrap());
    (path.clone(), Cleanup(path))
}

#[test]
fn version_and_layout_mismatches_are_refused() {
    let (path, _c) = fresh("version");
    patch(&path, VERSION_AT, &2u32.to_ne_bytes(), false);
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("version mismatch: {e}");
    assert!(matches!(e, SharedError::Version { found: 2, expected: 1, .. }), "{e}");

    // A region written by a 32-bit build: fact 3 is the pointer width.
    let (path, _c) = fresh("layout");
    patch(&path, LAYOUT_AT + 3 * 8, &32u64.to_ne_bytes(), true);
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("layout mismatch: {e}");
    assert!(matches!(e, SharedError::Layout { .. }), "{e}");
    assert!(e.to_string().contains("pointer width: 32 vs 64"), "{e}");

    // Fact 1 is the crate version's hash.
    let (path, _c) = fresh("layout2");
    patch(&path, LAYOUT_AT + 8, &1u64.to_ne_bytes(), true);
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("layout mismatch: {e}");
    assert!(e.to_string().contains("crate version (hash): 1 vs"), "{e}");

    // The other byte order.
    let (path, _c) = fresh("endian");
    patch(&path, 0, &u64::from_ne_bytes(*b"RBSHARED").swap_bytes().to_ne_bytes(), false);
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("byte order: {e}");
    assert!(e.to_string().contains("other byte order"), "{e}");
}

#[test]
fn truncated_and_corrupt_files_are_refused() {
    let full = {
        let (path, _c) = fresh("size");
        std::fs::metadata(&path).unwrap().len()
    };
    for len in [full - 1, 1000, 300, 30, 10] {
        let (path, _c) = fresh(&format!("trunc{len}"));
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len).unwrap();
        let e = SharedBreaker::open(&path, cfg()).unwrap_err();
        eprintln!("truncated to {len}: {e}");
        assert!(matches!(e, SharedError::Truncated { size, .. } if size == len), "{e}");
    }
    // A flipped bit anywhere in the checksummed header.
    for at in [30u64, LAYOUT_AT + 40, CONFIG_AT + 16, CHECKSUM_AT] {
        let (path, _c) = fresh(&format!("flip{at}"));
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut b).unwrap();
        patch(&path, at, &[b[0] ^ 0x10], false);
        let e = SharedBreaker::open(&path, cfg()).unwrap_err();
        eprintln!("bit flipped at {at}: {e}");
        assert!(matches!(e, SharedError::Corrupt { .. }), "{e}");
    }
    // The breaker block's own config (bucket count) disagreeing with the header.
    let (path, _c) = fresh("block");
    let info = SharedBreaker::open(&path, cfg()).unwrap().info();
    let breaker_offset = info.file_size - ringbreaker::Breaker::layout(6).size() as u64;
    // Config.buckets sits at offset 8 of the config, at offset 0 of the block.
    patch(&path, breaker_offset + 8, &1_000_000u32.to_ne_bytes(), false);
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("block config: {e}");
    assert!(matches!(e, SharedError::Corrupt { .. }), "{e}");
    // Not a region at all.
    let path = region("garbage");
    let _c = Cleanup(path.clone());
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, junk).unwrap();
    let e = SharedBreaker::open(&path, cfg()).unwrap_err();
    eprintln!("garbage: {e}");
    assert!(matches!(e, SharedError::NotARegion { .. }), "{e}");
    assert!(matches!(SharedBreaker::default_path("a/b"), Err(SharedError::InvalidName(_))));
    assert!(SharedBreaker::default_path("orders").unwrap().ends_with("ringbreaker.orders"));
}

/// Wait until the creator wrote its pid into the prefix.
fn wait_for_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(b) = std::fs::read(path)
            && b.len() >= 24
        {
            let pid = u32::from_ne_bytes(b[20..24].try_into().unwrap());
            if pid != 0 {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "creator never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigkill_mid_creation_is_recovered() {
    let path = region("killcreate");
    let _c = Cleanup(path.clone());
    let mut creator = spawn("stall", &path, &[]);
    let pid = wait_for_pid(&path);
    assert_eq!(pid, creator.id());
    // While it lives and holds the lock, openers wait, then give up saying who.
    let opts = SharedOptions { wait: Duration::from_millis(300), ..SharedOptions::default() };
    let e = SharedBreaker::open_with(&path, cfg(), &opts).unwrap_err();
    eprintln!("creator alive: {e}");
    assert!(matches!(e, SharedError::CreationTimeout { creator_pid, .. } if creator_pid == pid));
    sigkill(&mut creator);
    let s = SharedBreaker::open(&path, cfg()).unwrap();
    eprintln!("after SIGKILL of creator {pid}: {:?}", s.opened());
    assert_eq!(s.opened(), Opened::Recovered { dead_pid: pid });
    assert_eq!(s.info().creator_pid, std::process::id());
    let p = s.try_acquire(1).unwrap();
    s.record(p, Outcome::Success, 2);
    assert_eq!(SharedBreaker::open(&path, cfg()).unwrap().snapshot(3).successes, 1);
}

#[test]
fn processes_count_exactly() {
    let path = region("totals");
    let _c = Cleanup(path.clone());
    let s = SharedBreaker::open(&path, cfg()).unwrap();
    let n = 20_000u64;
    let kids: Vec<Child> =
        (0..4).map(|_| spawn("totals", &path, &[("RB_SHM_N", n.to_string())])).collect();
    for k in kids {
        assert_eq!(lines(k), vec!["done"]);
    }
    let m = s.snapshot(SharedBreaker::now_ns());
    assert_eq!((m.calls, m.failures, m.successes), (4 * n, n, 3 * n));
    s.force_open(SharedBreaker::now_ns());
    let kids: Vec<Child> =
        (0..4).map(|_| spawn("reject", &path, &[("RB_SHM_N", "5000".into())])).collect();
    for k in kids {
        assert_eq!(lines(k), vec!["done"]);
    }
    assert_eq!(s.snapshot(0).rejected, 20_000);
}

#[test]
fn processes_race_transitions_with_one_winner_each() {
    let path = region("churn");
    let _c = Cleanup(path.clone());
    let s = SharedBreaker::open(&path, churn_cfg()).unwrap();
    let first = s.snapshot(0).generation;
    let kids: Vec<Child> =
        (0..4).map(|_| spawn("churn", &path, &[("RB_SHM_N", "40000".into())])).collect();
    let out: Vec<String> = kids.into_iter().flat_map(lines).collect();
    let mut won: BTreeMap<u32, usize> = BTreeMap::new();
    let mut trials: BTreeMap<u32, u32> = BTreeMap::new();
    for l in &out {
        let f: Vec<&str> = l.split(' ').collect();
        match f[0] {
            "transition" => *won.entry(f[1].parse().unwrap()).or_default() += 1,
            "trial" => *trials.entry(f[1].parse().unwrap()).or_default() += 1,
            _ => {}
        }
    }
    let generation = s.snapshot(0).generation;
    eprintln!(
        "4 processes: {generation} transitions, {} trial permits over {} half-open generations",
        trials.values().sum::<u32>(),
        trials.len()
    );
    assert!(generation > 20, "the workload must churn (got {generation})");
    // Every generation 1..=current was won by exactly one process.
    assert_eq!(
        won.keys().copied().collect::<Vec<_>>(),
        (first + 1..=generation).collect::<Vec<_>>()
    );
    assert!(won.values().all(|&n| n == 1), "a generation with two winners");
    // T2 across processes: never more trials than half_open_permits per generation.
    assert!(trials.values().all(|&n| n <= 2), "trials over-issued: {trials:?}");
    assert!(trials.values().any(|&n| n == 2), "the workload must fill half-open");
    // Every transition made through SharedBreaker is in the journal.
    let h = s.history(generation.saturating_sub(64));
    assert_eq!(h.missed, 0);
}

#[test]
fn sigkill_of_a_trial_holder_lapses_after_half_open_timeout() {
    let path = region("killtrial");
    let _c = Cleanup(path.clone());
    let s = SharedBreaker::open(&path, lease_cfg()).unwrap();
    s.trip(SharedBreaker::now_ns()).unwrap();
    std::thread::sleep(Duration::from_millis(210));
    let mut holder = spawn("trial", &path, &[]);
    let mut line = String::new();
    {
        let out = holder.stdout.as_mut().unwrap();
        let mut b = [0u8; 1];
        while !(line.starts_with("@@ ") && line.ends_with('\n')) {
            if line.ends_with('\n') {
                line.clear();
            }
            assert_eq!(out.read(&mut b).unwrap(), 1, "holder exited early");
            line.push(b[0] as char);
        }
    }
    let issued: u64 = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    sigkill(&mut holder);
    eprintln!("killed trial holder {} ({})", holder.id(), line.trim());
    // The dead process's trial is still out: nobody else gets one before it lapses.
    let r = s.try_acquire(SharedBreaker::now_ns()).unwrap_err();
    assert_eq!(r.state, State::HalfOpen);
    // Once half_open_timeout has passed since the trial was issued, the next call re-opens
    // the breaker (the lapse counts as a failed trial) or proceeds.
    while SharedBreaker::now_ns() < issued + 300 * MS {
        std::thread::sleep(Duration::from_millis(5));
    }
    match s.try_acquire(SharedBreaker::now_ns()) {
        Err(r) => {
            let t = r.transition.expect("the lapse re-opens it");
            eprintln!("after the lapse: {t}");
            assert_eq!(
                (t.from, t.to, t.reason),
                (State::HalfOpen, State::Open, Reason::HalfOpenTimeout)
            );
        }
        Ok(p) => eprintln!("after the lapse: permit {:?}", p.kind()),
    }
    // And the breaker is not wedged: after the (grown) open duration a trial closes it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = SharedBreaker::now_ns();
        if let Ok(p) = s.try_acquire(now) {
            assert_eq!(p.kind(), PermitKind::Trial);
            let t = s.record(p, Outcome::Success, now).unwrap();
            assert_eq!(t.to, State::Closed);
            break;
        }
        assert!(Instant::now() < deadline, "wedged");
        std::thread::sleep(Duration::from_millis(10));
    }
}
