//! How the checks get a store and move its time.

use std::fmt;
use std::future::{self, Future};
use std::sync::Arc;

use auth_core::{Clock, ManualClock, SessionStore, SharedClock, SystemClock};
use time::{Duration, OffsetDateTime};

/// What the conformance checks need from a store under test: fresh stores, the store's "now",
/// and a way to move that "now" forward.
///
/// A store that takes a [`Clock`] uses [`ClockHarness`], whose
/// [`advance`](Harness::advance) moves a [`ManualClock`] and costs no time. A store that
/// expires records on real time (Redis TTLs, SQL `now()`) uses [`RealTimeHarness`] or its own
/// harness whose `advance` sleeps: the checks keep expiry short for that (records expire 2 s
/// after [`now`](Harness::now), and the checks advance by 3 s), so the whole suite then takes
/// about 20 s.
///
/// Each check generates its own IDs, so [`store`](Harness::store) may hand out the same
/// (shared) store every time; a harness for a database typically returns a pool to one
/// test schema.
///
/// A hand-written harness:
///
/// ```
/// use std::sync::Arc;
///
/// use auth_core::{Clock, ManualClock};
/// use auth_session::MemoryStore;
/// use auth_session::testkit::{self, Harness};
/// use time::{Duration, OffsetDateTime};
///
/// #[derive(Debug, Default)]
/// struct MyHarness {
///     clock: ManualClock,
/// }
///
/// impl Harness for MyHarness {
///     type Store = MemoryStore;
///
///     async fn store(&self) -> MemoryStore {
///         MemoryStore::with_clock(Arc::new(self.clock.clone()))
///     }
///
///     fn now(&self) -> OffsetDateTime {
///         self.clock.now()
///     }
///
///     async fn advance(&self, by: Duration) {
///         self.clock.advance(by);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// testkit::run(&MyHarness::default()).await;
/// # }
/// ```
pub trait Harness: Send + Sync {
    /// The store under test.
    type Store: SessionStore;

    /// A store for one check: fresh and empty, or shared between checks.
    fn store(&self) -> impl Future<Output = Self::Store> + Send;

    /// The current time as the store sees it.
    fn now(&self) -> OffsetDateTime;

    /// Moves the store's time forward by `by` (sleeping, for a store on real time).
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;
}

/// A [`Harness`] for stores built from a [`SharedClock`]: every store it makes reads one
/// [`ManualClock`], and [`advance`](Harness::advance) moves that clock, so expiry checks take
/// no time.
///
/// ```
/// use auth_session::MemoryStore;
/// use auth_session::testkit::{self, ClockHarness};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// testkit::run(&ClockHarness::new(MemoryStore::with_clock)).await;
/// # }
/// ```
///
/// Await the checks in the test's own future, as above. Passing the future of a check on a
/// closure-built harness to `tokio::spawn` can fail to compile ("implementation of `FnOnce`
/// is not general enough", a known compiler limitation); run it with `block_on` on a thread of
/// its own instead.
pub struct ClockHarness<F> {
    clock: ManualClock,
    make: F,
}

impl<F, S> ClockHarness<F>
where
    F: Fn(SharedClock) -> S + Send + Sync,
    S: SessionStore,
{
    /// A harness whose clock starts at [`ManualClock::default`] and whose stores come from
    /// `make`, which receives the harness clock.
    ///
    /// ```
    /// use auth_session::MemoryStore;
    /// use auth_session::testkit::ClockHarness;
    ///
    /// let harness = ClockHarness::new(|clock| MemoryStore::with_clock(clock).with_max_sessions(100));
    /// # let _ = harness;
    /// ```
    #[must_use]
    pub fn new(make: F) -> Self {
        Self::with_clock(ManualClock::default(), make)
    }

    /// A harness on `clock` (which the caller may keep, to move time itself).
    ///
    /// ```
    /// use auth_core::{Clock, ManualClock};
    /// use auth_session::MemoryStore;
    /// use auth_session::testkit::ClockHarness;
    ///
    /// let clock = ManualClock::at_unix(1_800_000_000);
    /// let harness = ClockHarness::with_clock(clock.clone(), MemoryStore::with_clock);
    /// clock.advance(time::Duration::seconds(5));
    /// assert_eq!(harness.clock().unix_timestamp(), 1_800_000_005);
    /// ```
    #[must_use]
    pub fn with_clock(clock: ManualClock, make: F) -> Self {
        Self { clock, make }
    }

    /// The harness clock.
    ///
    /// ```
    /// use auth_core::Clock;
    /// use auth_session::MemoryStore;
    /// use auth_session::testkit::ClockHarness;
    ///
    /// let harness = ClockHarness::new(MemoryStore::with_clock);
    /// harness.clock().advance(time::Duration::hours(1));
    /// ```
    #[must_use]
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }
}

impl<F, S> Harness for ClockHarness<F>
where
    F: Fn(SharedClock) -> S + Send + Sync,
    S: SessionStore,
{
    type Store = S;

    fn store(&self) -> impl Future<Output = S> + Send {
        future::ready((self.make)(Arc::new(self.clock.clone())))
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send {
        self.clock.advance(by);
        future::ready(())
    }
}

impl<F> fmt::Debug for ClockHarness<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockHarness")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A [`Harness`] for stores on real time (native TTLs): "now" is the system clock and
/// [`advance`](Harness::advance) sleeps (on tokio's timer), so the suite takes about 20 s.
///
/// `make` is an async closure that returns a store, e.g. connects to a test server.
///
/// ```
/// use auth_session::MemoryStore;
/// use auth_session::testkit::{self, RealTimeHarness};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let harness = RealTimeHarness::new(|| async { MemoryStore::new() });
/// // Any single check, or `testkit::run(&harness)` for all of them.
/// testkit::load_of_unknown_id_is_none(&harness).await;
/// # }
/// ```
pub struct RealTimeHarness<F> {
    make: F,
}

impl<F, Fut, S> RealTimeHarness<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
    S: SessionStore,
{
    /// A harness whose stores come from `make`.
    ///
    /// ```
    /// let harness = auth_session::testkit::RealTimeHarness::new(|| async {
    ///     auth_session::MemoryStore::new()
    /// });
    /// # let _ = harness;
    /// ```
    #[must_use]
    pub fn new(make: F) -> Self {
        Self { make }
    }
}

impl<F, Fut, S> Harness for RealTimeHarness<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
    S: SessionStore,
{
    type Store = S;

    fn store(&self) -> impl Future<Output = S> + Send {
        (self.make)()
    }

    fn now(&self) -> OffsetDateTime {
        SystemClock.now()
    }

    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(std::time::Duration::try_from(by).unwrap_or_default())
    }
}

impl<F> fmt::Debug for RealTimeHarness<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealTimeHarness").finish_non_exhaustive()
    }
}
