//! The worker threads: how many a call may use, and who runs the tasks of a
//! split call.
//!
//! The count is [`set_num_threads`]'s, else `FASTLOSS_NUM_THREADS`'s, else
//! the number of cores, at most [`MAX_THREADS`]; it is read at every split
//! call, so a change applies to the next call. A call uses at most 64
//! threads, one for each of its tasks at most.
//!
//! The calling thread always works. [`run`] posts the call's work for up to
//! `threads - 1` helper threads and then does it itself; helpers that arrive
//! take their share, helpers that are late or busy take nothing, and the
//! call never waits for a helper to wake up, only for tasks a helper has
//! already taken. After a job a helper spins for [`SPIN`] before it sleeps,
//! so that calls in a row (a training loop, a benchmark) find it awake
//! instead of paying for the wake-up of an idle core each time. A second
//! caller that posts while a job is running does its work alone.
//!
//! Which thread computes what never changes a result: the caller splits its
//! work into tasks of fixed extent and combines their results in a fixed
//! order (see `reduce::tree`).
//!
//! A call's calling thread may also be given a poll ([`with_poll`]) that it
//! asks between leaves whether to go on: the Python bindings stop a call
//! there when a signal handler raises (Ctrl-C).
//!
//! A process forked from one whose helpers exist runs every call alone and
//! takes none of the pool's locks: the fork copied the pool's state as the
//! parent's threads left it (its lock possibly held, helpers counted as
//! inside a job) but none of those threads, so that state can never change.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{require, LossError};

/// The most threads [`set_num_threads`] takes, and what a larger
/// `FASTLOSS_NUM_THREADS` is lowered to: far above any machine's cores, far
/// below what a typo (100000) would otherwise ask of the system. A call
/// uses at most 64 of them, since it is cut into 64 tasks at most.
pub const MAX_THREADS: usize = 1024;

/// The thread count in use; 0 until it is first set or read.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads the kernels use: `set_num_threads`, else `FASTLOSS_NUM_THREADS`
/// (lowered to [`MAX_THREADS`]; ignored when it is not a whole number of at
/// least 1), else the number of cores.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = env_threads().0.unwrap_or_else(cores);
            // Another thread may have set a value meanwhile; keep theirs.
            let _ = THREADS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
            THREADS.load(Ordering::Relaxed)
        }
        n => n,
    }
}

/// The number of cores, at most [`MAX_THREADS`].
fn cores() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// The thread count `FASTLOSS_NUM_THREADS` gives (`None`: unset, empty, or
/// not a count), and what is wrong with it, if anything, said for a user.
pub(crate) fn env_threads() -> (Option<usize>, Option<String>) {
    let value = std::env::var_os("FASTLOSS_NUM_THREADS");
    threads_from(value.map(|v| v.to_string_lossy().into_owned()).as_deref())
}

/// [`env_threads`] for the variable's value.
fn threads_from(value: Option<&str>) -> (Option<usize>, Option<String>) {
    const NAME: &str = "FASTLOSS_NUM_THREADS";
    let text = value.unwrap_or("").trim();
    if text.is_empty() {
        return (None, None);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => (Some(n), None),
        Ok(n) if n > MAX_THREADS => too_many(text),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => too_many(text),
        _ => {
            let cores = cores();
            let why = format!(
                "{NAME}={text:?} is not a thread count (a whole number from 1 to \
                 {MAX_THREADS}); using the number of cores, {cores}"
            );
            (None, Some(why))
        }
    }
}

/// [`env_threads`] for a count above [`MAX_THREADS`].
fn too_many(text: &str) -> (Option<usize>, Option<String>) {
    let why = format!(
        "FASTLOSS_NUM_THREADS={text:?} is above the maximum, {MAX_THREADS}; using {MAX_THREADS}"
    );
    (Some(MAX_THREADS), Some(why))
}

/// Sets the number of threads the kernels use, from 1 to [`MAX_THREADS`].
/// Results do not depend on it; only speed does.
pub fn set_num_threads(n: usize) -> Result<(), LossError> {
    // The requirement is spelled out: it must be a `&'static str`.
    require(
        (1..=MAX_THREADS).contains(&n),
        "n",
        n as f64,
        "1 <= n <= 1024",
    )?;
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// How long a helper stays awake for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// The work of one call, as helpers see it: a pointer to the caller's
/// closure, valid while the job is posted or a helper is inside it.
#[derive(Clone, Copy)]
struct Work(*const (dyn Fn() + Sync + 'static));

// SAFETY: the closure is `Sync`, and `run` keeps it alive for as long as any
// helper can reach it (see there).
unsafe impl Send for Work {}

struct State {
    /// A call is using the helpers (from its post until its last helper
    /// has left).
    busy: bool,
    /// The posted work, while helpers may still join it.
    work: Option<Work>,
    /// Bumped at every post, so a helper takes each job once.
    epoch: u64,
    /// Helpers wanted by the posted job, and those that have joined it.
    wanted: usize,
    joined: usize,
    /// Helpers started, and those asleep on `wake`.
    started: usize,
    sleeping: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    busy: false,
    work: None,
    epoch: 0,
    wanted: 0,
    joined: 0,
    started: 0,
    sleeping: 0,
});
static WAKE: Condvar = Condvar::new();
/// `State::epoch`, readable without the lock by spinning helpers.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Helpers inside a job's work.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// What a task that panicked on a helper panicked with, for the caller.
static PANIC: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);

/// The id of the process that uses the pool; 0 until a split call first
/// reaches it. A forked child inherits its parent's id here.
static OWNER: AtomicU32 = AtomicU32::new(0);

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this process may use the pool: it is the one that first did,
/// claiming it now if none has. A process's first claim comes before any of
/// its threads takes a lock of the pool (and is sequentially consistent, so
/// it is seen no later than that lock), so a child forked from a process
/// that never claimed the pool has inherited no held lock and may claim it.
fn owns_pool() -> bool {
    let me = std::process::id();
    match OWNER.load(Ordering::Relaxed) {
        0 => match OWNER.compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => true,
            Err(owner) => owner == me,
        },
        owner => owner == me,
    }
}

/// Runs `work` on the calling thread and on up to `threads - 1` helpers at
/// once; returns when every copy has returned. `work` must share its tasks
/// out itself (an atomic counter), so that any number of copies, one
/// included, does all of them once.
pub(crate) fn run(threads: usize, work: &(dyn Fn() + Sync)) {
    let helpers = threads.saturating_sub(1);
    if helpers == 0 || !owns_pool() {
        return work();
    }
    let mut s = state();
    if s.busy {
        drop(s);
        return work();
    }
    while s.started < helpers {
        let index = s.started;
        let spawned = std::thread::Builder::new()
            .name(format!("fastloss-{index}"))
            .spawn(helper);
        if spawned.is_err() {
            break; // the helpers there are (or the caller alone) do it all
        }
        s.started += 1;
    }
    // SAFETY: only the lifetime is erased. The pointer is reachable by
    // helpers while `s.work` holds it or while they are inside it (counted
    // by ACTIVE, raised under the lock); `withdraw`, which `run` calls
    // before it returns or unwinds, takes it back under the lock and waits
    // for ACTIVE to drop to zero.
    let erased: *const (dyn Fn() + Sync + 'static) =
        unsafe { std::mem::transmute::<*const (dyn Fn() + Sync + '_), _>(work as *const _) };
    s.busy = true;
    s.work = Some(Work(erased));
    s.epoch += 1;
    s.wanted = helpers;
    s.joined = 0;
    EPOCH.store(s.epoch, Ordering::Release);
    let sleepers = s.sleeping > 0;
    drop(s);
    if sleepers {
        WAKE.notify_all();
    }
    // Withdraws the job if the caller's copy unwinds.
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            withdraw();
        }
    }
    let guard = Guard;
    work();
    std::mem::forget(guard);
    if let Some(payload) = withdraw() {
        std::panic::resume_unwind(payload);
    }
}

/// Ends the posted job: no helper joins it any more, those inside it have
/// left, and the helpers are free for the next call. Returns what a task
/// that panicked on a helper panicked with.
fn withdraw() -> Option<Box<dyn Any + Send>> {
    state().work = None;
    let mut spins = 0u32;
    while ACTIVE.load(Ordering::Acquire) != 0 {
        // A helper is finishing a task it took; it may have lost its core.
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    let panic = PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
    state().busy = false;
    panic
}

/// A helper's life: take each posted job once, spin a while, sleep.
fn helper() {
    let mut seen = 0;
    loop {
        let deadline = Instant::now() + SPIN;
        let mut spins = 0u32;
        while EPOCH.load(Ordering::Acquire) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && Instant::now() >= deadline {
                break;
            }
        }
        let mut s = state();
        while s.epoch == seen {
            s.sleeping += 1;
            s = WAKE.wait(s).unwrap_or_else(|e| e.into_inner());
            s.sleeping -= 1;
        }
        seen = s.epoch;
        let Some(work) = s.work.filter(|_| s.joined < s.wanted) else {
            continue; // the job is over, or has all the helpers it wants
        };
        s.joined += 1;
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        drop(s);
        // SAFETY: the job was posted when the lock was taken above, so
        // `run` has not yet taken it back, and it waits for ACTIVE (raised
        // under that lock) to return to zero before the closure can go.
        let done = catch_unwind(AssertUnwindSafe(|| unsafe { (*work.0)() }));
        if let Err(payload) = done {
            *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
        ACTIVE.fetch_sub(1, Ordering::Release);
    }
}

/// Why a call stopped before its end: the poll of [`with_poll`] said so.
#[derive(Debug)]
// The Python bindings are the only callers of `with_poll`.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) struct Interrupted;

/// How often, at most, the calling thread asks its poll whether to go on.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Leaves between two reads of the clock: a leaf is a few hundred
/// nanoseconds of work or more, a read of the clock some tens.
const POLL_LEAVES: u32 = 64;

/// Leaves whose group takes longer than this read the clock one by one.
const SLOW_LEAVES: Duration = Duration::from_millis(1);

/// The poll of a call, on its calling thread: asked between leaves of the
/// reduction tree, every [`POLL_EVERY`] or so.
pub(crate) struct Poll<'a> {
    /// Whether to go on; `None` while it is being asked (a signal handler
    /// that it runs may make a call of its own, which must not ask it).
    ask: Cell<Option<&'a mut dyn FnMut() -> bool>>,
    /// Leaves left until the clock is read.
    countdown: Cell<u32>,
    /// When the clock was last read, and when `ask` is next due (`None`
    /// before the first leaf).
    times: Cell<Option<(Instant, Instant)>>,
}

impl Poll<'_> {
    /// Called before each leaf by the calling thread: asks the poll when it
    /// is due and, if it says to stop, unwinds out of the call with an
    /// [`Interrupted`] payload (no panic message) that [`with_poll`] catches.
    #[inline]
    pub(crate) fn tick(&self) {
        let left = self.countdown.get();
        if left > 1 {
            self.countdown.set(left - 1);
            return;
        }
        self.check();
    }

    #[cold]
    fn check(&self) {
        let now = Instant::now();
        let Some((read, due)) = self.times.get() else {
            // The first leaf: the next one is timed to learn their pace.
            self.times.set(Some((now, now + POLL_EVERY)));
            return;
        };
        // Leaves so slow that a group of them takes over a millisecond
        // (long rows of cross-entropy) read the clock at each leaf.
        let slow = now.duration_since(read) > SLOW_LEAVES;
        self.countdown.set(if slow { 1 } else { POLL_LEAVES });
        self.times.set(Some((now, due)));
        if now < due {
            return;
        }
        let Some(ask) = self.ask.take() else {
            return;
        };
        let go = ask();
        self.ask.set(Some(ask));
        let after = Instant::now();
        // A poll that had to wait (for the GIL, held by another thread) is
        // asked less often, so that asking never takes more than about 5 %
        // of the call.
        let next = after + POLL_EVERY.max(after.duration_since(now) * 20);
        self.times.set(Some((after, next)));
        if !go {
            resume_unwind(Box::new(Interrupted));
        }
    }
}

thread_local! {
    /// The poll of the call running on this thread, while [`with_poll`]
    /// runs it; null on helpers and for calls made without one.
    static POLL: Cell<*const Poll<'static>> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on this thread with `ask` as its poll: every split or unsplit
/// reduction that `f` makes asks it, on this thread only, about every
/// [`POLL_EVERY`] between leaves, and stops when it returns false. The
/// reduction then unwinds: the pool's other threads finish the leaf they
/// are in and take no more, outputs are left partly written, and `f`'s
/// result is `Err(Interrupted)`.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn with_poll<R>(
    ask: &mut dyn FnMut() -> bool,
    f: impl FnOnce() -> R,
) -> Result<R, Interrupted> {
    if cfg!(panic = "abort") {
        // No unwinding to stop a call with: calls run to their end.
        return Ok(f());
    }
    let poll = Poll {
        ask: Cell::new(Some(ask)),
        // The first leaf reads the clock.
        countdown: Cell::new(1),
        times: Cell::new(None),
    };
    // Puts back the poll of an enclosing call (a signal handler's call
    // inside a poll), before `poll` is dropped, however `f` ends.
    struct Restore(*const Poll<'static>);
    impl Drop for Restore {
        fn drop(&mut self) {
            POLL.set(self.0);
        }
    }
    let erased: *const Poll<'_> = &poll;
    let _restore = Restore(POLL.replace(erased.cast()));
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => Ok(result),
        Err(payload) if payload.is::<Interrupted>() => Err(Interrupted),
        Err(payload) => resume_unwind(payload),
    }
}

/// Calls `f` with the poll of the call running on this thread, if any.
pub(crate) fn calling_thread_poll<R>(f: impl FnOnce(Option<&Poll<'_>>) -> R) -> R {
    let poll = POLL.get();
    // SAFETY: a non-null POLL points to the `Poll` of a `with_poll` on this
    // thread that is still running (it resets POLL before that `Poll` is
    // dropped), and `f` runs within it.
    f(unsafe { poll.as_ref() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_num_threads_bounds() {
        for bad in [0, MAX_THREADS + 1, usize::MAX] {
            let e = set_num_threads(bad).unwrap_err().to_string();
            assert!(e.contains(&MAX_THREADS.to_string()), "{e}");
        }
    }

    #[test]
    fn thread_count_from_the_environment() {
        assert_eq!(threads_from(None), (None, None));
        assert_eq!(threads_from(Some(" ")), (None, None));
        assert_eq!(threads_from(Some(" 3 ")), (Some(3), None));
        assert_eq!(threads_from(Some("1024")), (Some(MAX_THREADS), None));
        for big in ["1025", "100000", "99999999999999999999999"] {
            let (n, why) = threads_from(Some(big));
            assert_eq!(n, Some(MAX_THREADS));
            assert!(why.unwrap().contains("above the maximum"));
        }
        for bad in ["0", "-2", "four", "2.5"] {
            let (n, why) = threads_from(Some(bad));
            assert_eq!(n, None);
            assert!(why.unwrap().contains("not a thread count"));
        }
    }
}
