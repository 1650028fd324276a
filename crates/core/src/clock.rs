//! The one source of time.
//!
//! Every wait, backoff, timeout and timestamp in failover goes through a [`Clock`]: the
//! handlers, the ARC endpoint loop, the SDK clients (through [`Clock::sdk_sleep`] and
//! [`Clock::sdk_time_source`]), the local States Language runner and the simulated Region
//! pair. Three implementations exist:
//!
//! * [`SystemClock`]: wall time and tokio timers. What runs in AWS.
//! * [`VirtualClock`]: time that starts at a chosen instant and advances only through tokio's
//!   timer wheel. Inside a runtime built with `start_paused(true)`, tokio jumps to the next
//!   timer as soon as every task is idle, so a ten-minute failover is simulated in
//!   milliseconds and concurrent sleepers overlap exactly as they would in real time.
//! * [`ScaledClock`]: real time sped up by a factor, for a simulator serving other processes.
//!
//! This module must never read the wall clock except inside [`SystemClock`] and
//! [`ScaledClock`]: a test that used `SystemTime::now()` directly would not be reproducible.
//!
//! The one wait on real time under a [`VirtualClock`] is the limit of a [`Hold`]: the world
//! outside the process (a database server) answers in real time whatever the clock says, so
//! a deadline on it ([`SharedClock::outside_timeout`]) is real time; it puts no timestamp
//! anywhere and simulated time stands still meanwhile.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};

/// A boxed, sendable sleep future.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>>;

/// A source of the current time and of sleeps measured on the same time line.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time on this clock's time line.
    fn now(&self) -> SystemTime;
    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> SleepFuture;
    /// Holds this clock still while the world outside the process answers, for at most
    /// `limit` of real time (see [`SharedClock::outside`]). A clock that follows real time
    /// holds nothing: this default.
    fn hold(&self, _limit: Option<Duration>) -> Hold {
        Hold::none()
    }
}

/// A cheaply clonable handle to a [`Clock`]; what every component takes.
#[derive(Clone, Debug)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    pub fn new(clock: impl Clock) -> Self {
        Self(Arc::new(clock))
    }

    /// The wall clock, for code running in AWS.
    pub fn system() -> Self {
        Self::new(SystemClock)
    }

    /// A virtual clock starting at `start` (see [`VirtualClock`]).
    pub fn virtual_at(start: SystemTime) -> Self {
        Self::new(VirtualClock::starting_at(start))
    }

    pub fn now(&self) -> SystemTime {
        self.0.now()
    }

    pub fn sleep(&self, duration: Duration) -> SleepFuture {
        self.0.sleep(duration)
    }

    /// Runs `fut` with a deadline measured on this clock.
    pub async fn timeout<F: Future>(&self, duration: Duration, fut: F) -> Result<F::Output, Elapsed> {
        let sleep = self.sleep(duration);
        tokio::pin!(fut);
        tokio::select! {
            biased;
            out = &mut fut => Ok(out),
            _ = sleep => Err(Elapsed(duration)),
        }
    }

    /// Runs `fut`, which waits on the world outside this process (a database server's
    /// answer), with this clock held still until it completes.
    ///
    /// A [`VirtualClock`] under a paused runtime leaps to the next timer whenever every task
    /// waits, and a task awaiting a socket looks idle: simulated minutes would pass, and
    /// deadlines fire, while the server is still answering. Held, the clock stands still, as
    /// it does while a driver blocks (SQLite, regionsim's databases): the outside world's
    /// work takes no simulated time. Nothing inside `fut` may wait on this clock (it would
    /// wait for ever). Clocks that follow real time are not held.
    pub async fn outside<F: Future>(&self, fut: F) -> F::Output {
        let _hold = self.0.hold(None);
        fut.await
    }

    /// [`SharedClock::outside`] with a deadline: `Err(Elapsed)` when `limit` passes before
    /// `fut` completes. The outside world answers in real time, so on a held clock the limit
    /// is real time (a hanging server still fails, and simulated time stands still
    /// meanwhile); on the clocks that are not held it is [`SharedClock::timeout`].
    pub async fn outside_timeout<F: Future>(&self, limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
        let mut hold = self.0.hold(Some(limit));
        if !hold.is_holding() {
            return self.timeout(limit, fut).await;
        }
        tokio::pin!(fut);
        tokio::select! {
            biased;
            out = &mut fut => Ok(out),
            _ = hold.expired() => Err(Elapsed(limit)),
        }
    }

    /// Seconds since the Unix epoch, as a float (for timelines and reports).
    pub fn unix_seconds(&self) -> f64 {
        self.now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }

    /// The current time as an RFC 3339 string with millisecond precision.
    pub fn now_rfc3339(&self) -> String {
        crate::time_fmt::rfc3339(self.now())
    }

    /// This clock as the AWS SDK's sleep implementation (retries, timeouts).
    pub fn sdk_sleep(&self) -> SharedAsyncSleep {
        SharedAsyncSleep::new(SdkClock(self.clone()))
    }

    /// This clock as the AWS SDK's time source (request signing, credential expiry).
    pub fn sdk_time_source(&self) -> SharedTimeSource {
        SharedTimeSource::new(SdkClock(self.clone()))
    }
}

/// A deadline set with [`SharedClock::timeout`] passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct Elapsed(pub Duration);

/// A clock held still while the world outside the process answers: see
/// [`SharedClock::outside`]. Dropping it lets the clock go.
#[must_use = "the clock is held only while the hold lives"]
pub struct Hold {
    /// Dropping it ends the hold.
    release: Option<std::sync::mpsc::Sender<()>>,
    /// Completes when the hold's real-time limit has passed first.
    expired: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold").field("holding", &self.is_holding()).finish()
    }
}

impl Hold {
    /// Holds nothing (a clock that follows real time moves while the world answers).
    pub fn none() -> Self {
        Hold { release: None, expired: None }
    }

    /// Keeps the paused clock of the current tokio runtime from auto-advancing while the
    /// hold lives, for at most `limit` of real time; outside a runtime, holds nothing.
    ///
    /// tokio does not auto-advance a paused clock while a blocking task runs (the
    /// "Preventing auto-advance" section of `tokio::time::pause`): the hold is such a task,
    /// parked until the hold is dropped or the limit passes. Holds add up.
    pub fn paused_runtime(limit: Option<Duration>) -> Self {
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return Hold::none() };
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (expire, expired) = tokio::sync::oneshot::channel::<()>();
        // Not awaited: the task ends when `release` is dropped, or at the limit.
        drop(rt.spawn_blocking(move || {
            let timed_out = match limit {
                Some(limit) => {
                    matches!(released.recv_timeout(limit), Err(std::sync::mpsc::RecvTimeoutError::Timeout))
                }
                None => {
                    let _ = released.recv();
                    false
                }
            };
            if timed_out {
                let _ = expire.send(());
            }
        }));
        Hold { release: Some(release), expired: Some(expired) }
    }

    pub fn is_holding(&self) -> bool {
        self.release.is_some()
    }

    /// Completes once the limit has passed; never for a hold without one.
    async fn expired(&mut self) {
        if let Some(rx) = self.expired.as_mut()
            && rx.await.is_ok()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Wall time and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Time that starts at a chosen instant and moves with tokio's timer wheel.
///
/// `now()` is `start` plus the time tokio's clock has advanced since the clock was made.
/// Under a paused runtime (`#[tokio::test(start_paused = true)]`, or
/// `Builder::new_current_thread().start_paused(true)`) time moves only when every task
/// waits, straight to the next timer: sleeps cost no wall time and parallel sleepers
/// overlap. The clock must be created inside the runtime whose timers it uses.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    start: SystemTime,
    origin: tokio::time::Instant,
}

impl VirtualClock {
    pub fn starting_at(start: SystemTime) -> Self {
        Self { start, origin: tokio::time::Instant::now() }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        self.start + (tokio::time::Instant::now() - self.origin)
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
    fn hold(&self, limit: Option<Duration>) -> Hold {
        Hold::paused_runtime(limit)
    }
}

/// Real time sped up by `factor` (a factor of 60 makes a simulated minute last a second).
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    start: SystemTime,
    origin: std::time::Instant,
    factor: f64,
}

impl ScaledClock {
    /// `factor` must be finite and positive; anything else is taken as 1.
    pub fn new(start: SystemTime, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 { factor } else { 1.0 };
        Self { start, origin: std::time::Instant::now(), factor }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> SystemTime {
        self.start + self.origin.elapsed().mul_f64(self.factor)
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration.div_f64(self.factor)))
    }
}

#[derive(Debug)]
struct SdkClock(SharedClock);

impl AsyncSleep for SdkClock {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(self.0.sleep(duration))
    }
}

impl TimeSource for SdkClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// A growing, capped interval: `initial * rate^attempt`, never above `max`.
pub fn backoff(initial: Duration, rate: f64, max: Duration, attempt: u32) -> Duration {
    let factor = rate.max(1.0).powi(attempt.min(64) as i32);
    let secs = (initial.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(secs.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test(start_paused = true)]
    async fn virtual_sleep_moves_time_without_waiting() {
        let clock = SharedClock::virtual_at(epoch(1_000));
        let wall = std::time::Instant::now();
        clock.sleep(Duration::from_secs(600)).await;
        assert_eq!(clock.now(), epoch(1_600));
        assert!(wall.elapsed() < Duration::from_secs(5), "a virtual sleep must not take wall time");
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_virtual_sleepers_overlap() {
        let clock = SharedClock::virtual_at(epoch(0));
        let a = clock.sleep(Duration::from_secs(60));
        let b = clock.sleep(Duration::from_secs(90));
        futures_join(a, b).await;
        assert_eq!(clock.now(), epoch(90), "two sleeps in parallel take the longer of the two");
    }

    async fn futures_join(a: SleepFuture, b: SleepFuture) {
        let (_, _) = tokio::join!(a, b);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_fires_on_the_clock() {
        let clock = SharedClock::virtual_at(epoch(0));
        let slow = clock.sleep(Duration::from_secs(10));
        let res = clock.timeout(Duration::from_secs(2), slow).await;
        assert_eq!(res, Err(Elapsed(Duration::from_secs(2))));
        assert_eq!(clock.now(), epoch(2));
        let fast = clock.timeout(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(fast, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_clock_stands_still_while_the_outside_world_answers() {
        let clock = SharedClock::virtual_at(epoch(0));
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (answer, answered) = tokio::sync::oneshot::channel::<u32>();
        // Another thread answers, as a database server does: tokio cannot see the answer
        // coming, and an unheld clock would leap to the 30 s deadline first.
        let server = std::thread::spawn(move || {
            asked.recv().unwrap();
            answer.send(7).unwrap();
        });
        let request = async move {
            ask.send(()).unwrap();
            answered.await.unwrap()
        };
        let res = clock.timeout(Duration::from_secs(30), clock.outside(request)).await;
        server.join().unwrap();
        assert_eq!(res, Ok(7));
        assert_eq!(clock.now(), epoch(0), "the outside world's work takes no simulated time");
        // Let go, the clock moves again.
        clock.sleep(Duration::from_secs(5)).await;
        assert_eq!(clock.now(), epoch(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_outside_world_misses_its_real_time_deadline_without_moving_the_clock() {
        let clock = SharedClock::virtual_at(epoch(0));
        let limit = Duration::from_millis(20);
        let res = clock.outside_timeout(limit, std::future::pending::<()>()).await;
        assert_eq!(res, Err(Elapsed(limit)));
        assert_eq!(clock.now(), epoch(0));
    }

    #[tokio::test(start_paused = true)]
    async fn sdk_adapters_use_the_same_time_line() {
        let clock = SharedClock::virtual_at(epoch(50));
        let sleep = clock.sdk_sleep();
        sleep.sleep(Duration::from_secs(5)).await;
        assert_eq!(clock.sdk_time_source().now(), epoch(55));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(60), 2.0, s(1800), 0), s(60));
        assert_eq!(backoff(s(60), 2.0, s(1800), 3), s(480));
        assert_eq!(backoff(s(60), 2.0, s(1800), 10), s(1800));
        assert_eq!(backoff(s(60), 0.5, s(1800), 4), s(60), "a rate below 1 never shrinks");
    }

    #[test]
    fn scaled_clock_rejects_nonsense_factors() {
        let c = ScaledClock::new(epoch(0), f64::NAN);
        assert_eq!(c.factor, 1.0);
        let c = ScaledClock::new(epoch(0), -3.0);
        assert_eq!(c.factor, 1.0);
    }
}
