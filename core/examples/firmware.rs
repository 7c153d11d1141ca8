//! Firmware in the embassy style: a `static` breaker built at compile time, an async task that
//! reads a flaky sensor through it, time from a tick counter. Plain `no_std`: no allocator, no
//! embassy, no HAL; the timer and the executor are stand-ins a few lines long, so the example
//! builds for a bare-metal target and runs on the host.
//!
//! ```text
//! cargo run -p ringbreaker --example firmware                  # on the host, prints a summary
//! cargo build -p ringbreaker --example firmware --no-default-features \
//!     --target thumbv7em-none-eabihf                           # the firmware build
//! ```
//!
//! With embassy, `TICKS` is `embassy_time::Instant::now().as_ticks()`, `Tick` is
//! `Timer::after_millis(10)`, `sensor_task` is an `#[embassy_executor::task]` and `block_on` is
//! the executor; the breaker code stays as it is. On a single-core MCU where the breaker is also
//! touched from an interrupt handler, see the crate docs, "Firmware", for the atomics feature
//! to choose.

#![cfg_attr(target_os = "none", no_std, no_main)]

use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll, Waker};

use ringbreaker::{Config, Outcome, State, StaticBreaker};

const MS: u64 = 1_000_000;

/// Validated at compile time: a bad value fails the build, not the device.
const CFG: Config = match Config::builder()
    .window_ns(1_000 * MS)
    .buckets(8)
    .minimum_calls(5)
    .failure_rate(0.5)
    .open_ns(200 * MS)
    .max_open_ns(1_600 * MS)
    .backoff_multiplier(2.0)
    .half_open_permits(1)
    .build()
{
    Ok(c) => c,
    Err(_) => panic!("invalid breaker configuration"),
};

/// The breaker in front of the sensor's bus: in `.bss`/`.data`, no runtime init, no heap.
static SENSOR_BREAKER: StaticBreaker<8> = match StaticBreaker::new(CFG) {
    Ok(b) => b,
    Err(_) => panic!("bucket storage does not match the configuration"),
};

/// Milliseconds since boot, advanced by the timer interrupt (here by [`Tick`]).
static TICKS: AtomicU32 = AtomicU32::new(0);

fn now_ns() -> u64 {
    u64::from(TICKS.load(Ordering::Relaxed)) * MS
}

/// `Timer::after_millis(ms)`: pending once, and the "interrupt" advances the clock.
struct Tick(u32, bool);

impl Future for Tick {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.1 {
            return Poll::Ready(());
        }
        self.1 = true;
        TICKS.fetch_add(self.0, Ordering::Relaxed);
        Poll::Pending
    }
}

/// Why a read failed.
#[derive(Clone, Copy, Debug)]
enum SensorError {
    /// The device did not acknowledge its address (unplugged, browned out, bus stuck).
    Nack,
}

/// An async I2C read as a driver would offer it. The device stops answering from 1 s to 3 s.
async fn read_sensor() -> Result<u16, SensorError> {
    Tick(1, false).await; // the transfer takes a millisecond
    let t = TICKS.load(Ordering::Relaxed);
    if (1_000..3_000).contains(&t) { Err(SensorError::Nack) } else { Ok(400 + (t % 7) as u16) }
}

/// What the task saw.
#[derive(Debug, Default)]
struct Summary {
    good: u32,
    failed: u32,
    skipped: u32,
    transitions: u32,
    last_state: Option<State>,
}

/// Every 10 ms: read the sensor through the breaker; while it is open, skip the bus (no
/// 25 ms I2C timeout per attempt) and keep the last good value.
async fn sensor_task(rounds: u32) -> Summary {
    let mut s = Summary::default();
    let mut last_good = 0u16;
    for _ in 0..rounds {
        match SENSOR_BREAKER.try_acquire(now_ns()) {
            Ok(permit) => {
                if permit.transition().is_some() {
                    s.transitions += 1; // Open -> HalfOpen: a trial read
                }
                let (outcome, value) = match read_sensor().await {
                    Ok(v) => (Outcome::Success, v),
                    Err(SensorError::Nack) => (Outcome::Failure, last_good),
                };
                if outcome == Outcome::Success {
                    s.good += 1;
                } else {
                    s.failed += 1;
                }
                last_good = value;
                if SENSOR_BREAKER.record(permit, outcome, now_ns()).is_some() {
                    s.transitions += 1; // with defmt: `defmt::info!("{}", t)`
                }
            }
            Err(rejected) => {
                s.skipped += 1;
                if rejected.transition.is_some() {
                    s.transitions += 1;
                }
            }
        }
        Tick(10, false).await;
    }
    s.last_state = Some(SENSOR_BREAKER.state(now_ns()));
    s
}

/// The executor: poll until done. Embassy's would sleep (`wfe`) between wake-ups.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[cfg(target_os = "none")]
mod board {
    /// The reset handler (cortex-m-rt's `#[entry]` on a real board).
    #[unsafe(no_mangle)]
    extern "C" fn _start() -> ! {
        let summary = super::block_on(super::sensor_task(500));
        core::hint::black_box(summary);
        loop {
            core::hint::spin_loop();
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let s = block_on(sensor_task(500));
    println!(
        "500 rounds of 10 ms: {} good reads, {} failed, {} skipped while open, {} transitions; \
         finally {}",
        s.good,
        s.failed,
        s.skipped,
        s.transitions,
        s.last_state.map_or("?", State::as_str)
    );
    assert!(s.skipped > 0 && s.transitions >= 3, "the outage trips the breaker: {s:?}");
    assert_eq!(s.last_state, Some(State::Closed), "and it closes once the sensor is back");
}
