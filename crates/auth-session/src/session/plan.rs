//! What settling a session must do after the response, decided under the state's lock.

use auth_core::{SessionId, SessionRecord, StoreError};
use time::Duration;

use super::settle::{Settle, Settling};
use super::state::{Changes, Original, SessionInner, State, now_nanos};
use crate::unix_time::{date, duration, truncate};

/// What the layer must do to the response once the session is settled.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) cookie: CookieChange,
    pub(crate) unavailable: bool,
    pub(crate) conflicts: Vec<String>,
}

impl Settled {
    pub(super) fn cookie(cookie: CookieChange) -> Self {
        Self {
            cookie,
            ..Self::default()
        }
    }

    pub(super) fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    /// A store failure while settling: logged, and the response becomes a 503.
    pub(super) fn failed(error: &StoreError) -> Self {
        tracing::error!(%error, "session store failed to save a session");
        Self::unavailable()
    }
}

#[derive(Debug, Default)]
pub(crate) enum CookieChange {
    #[default]
    None,
    Set {
        id: SessionId,
        max_age: Option<Duration>,
    },
    Remove,
}

/// What settling must do, decided under the state's lock.
pub(super) enum Plan {
    Done(Settled),
    Delete(SessionId),
    Create(SessionRecord),
    Cycle(SessionId, SessionRecord),
    Save {
        record: SessionRecord,
        resend_cookie: bool,
    },
    Touch {
        id: SessionId,
        /// Nanoseconds since the epoch.
        expires_at: i128,
        resend_cookie: bool,
        max_age: Option<Duration>,
    },
}

/// Settling that needs the store: the plan and what a save needs to merge.
pub(crate) struct Job {
    pub(super) plan: Plan,
    pub(super) original: Option<Original>,
    pub(super) changes: Changes,
    /// "Now" when settling began, in nanoseconds since the epoch.
    pub(super) now: i128,
}

impl SessionInner {
    /// Settles what the request did, after the inner service answered: at once when there is
    /// nothing to write (and no touch due) or the store answers at once, otherwise as far as
    /// it does, leaving the rest as a [`Settling`] to run.
    pub(crate) fn settle_now(&self) -> Settle {
        let job = {
            let mut state = self.lock();
            let state = &mut *state;
            let (plan, now) = self.plan(state);
            if let Plan::Done(settled) = plan {
                return Settle::Now(settled);
            }
            Job {
                plan,
                original: state.original.take(),
                changes: std::mem::take(&mut state.changes),
                now,
            }
        };
        Settling::new(self.config_arc(), job).run_now()
    }

    /// Decides what settling must do. Takes the working record when it is to be written.
    ///
    /// The expiry arithmetic is done on nanoseconds since the epoch (exact, like the same sums
    /// on `OffsetDateTime`, without calendar work); dates are built only for what is written.
    pub(super) fn plan(&self, state: &mut State) -> (Plan, i128) {
        let config = self.config();
        if state.error.is_some() {
            return (Plan::Done(Settled::unavailable()), 0);
        }
        if state.destroyed {
            let id = match &state.original {
                Some(original) => Some(original.id),
                None => self.cookie_id(state),
            };
            let plan = match id {
                Some(id) => Plan::Delete(id),
                None => Plan::Done(Settled::cookie(CookieChange::Remove)),
            };
            return (plan, 0);
        }
        let Some(record) = &state.record else {
            // Nothing was written and nothing loaded: nothing to do.
            return (Plan::Done(Settled::default()), 0);
        };
        if state.original.is_none() && !state.modified {
            return (Plan::Done(Settled::default()), 0);
        }
        let deadline = match record.absolute_expires_at {
            Some(at) => at.unix_timestamp_nanos(),
            None => {
                record.created_at.unix_timestamp_nanos()
                    + config.absolute_timeout.whole_nanoseconds()
            }
        };
        let idle = record.idle_timeout.unwrap_or(config.idle_timeout);
        let expiry_at = |now: i128| (now + idle.whole_nanoseconds()).min(deadline);
        let persistent = record.idle_timeout.is_some();

        if let Some(original) = &state.original
            && !state.modified
        {
            let (id, loaded_expiry) = (original.id, original.expires_at);
            // Whether a touch is due is a throttle decision: the reading taken at load serves
            // (as old as the request: a slow request may skip a touch that is due, and a
            // re-sealed cookie's `Max-Age` may overstate the time left by the request's
            // length; the store enforces the deadline either way). A touch itself reads the
            // clock afresh, so a session that idled out meanwhile is never extended.
            let decided_at = state.read_at.unwrap_or_else(|| now_nanos(config));
            let moved = expiry_at(decided_at) - loaded_expiry;
            let plan = if moved >= config.touch_interval.whole_nanoseconds() {
                let now = now_nanos(config);
                // Whole seconds within `OffsetDateTime`'s range, as a save writes it.
                let expires_at = truncate(expiry_at(now));
                let plan = Plan::Touch {
                    id,
                    expires_at,
                    resend_cookie: persistent || self.cookie_needs_reseal(state),
                    max_age: persistent.then(|| duration(expires_at - now)),
                };
                return (plan, now);
            } else if self.cookie_needs_reseal(state) {
                Plan::Done(Settled::cookie(CookieChange::Set {
                    id,
                    max_age: persistent.then(|| duration(loaded_expiry - decided_at)),
                }))
            } else {
                Plan::Done(Settled::default())
            };
            return (plan, decided_at);
        }
        let now = match (&state.original, state.read_at) {
            // A new session: it expires counting from the reading it was created with (its
            // creation can extend nothing, so that reading serves).
            (None, Some(at)) => at,
            // A stored session is written with a fresh reading, so one that idled out during
            // the request is not extended.
            _ => now_nanos(config),
        };
        let expires_at = expiry_at(now);
        let original = state.original.as_ref().map(|o| (o.id, o.version));
        let resend_cookie = state.expiry_changed || self.cookie_needs_reseal(state);
        let Some(mut record) = state.record.take() else {
            return (Plan::Done(Settled::default()), now);
        };
        // Truncated to whole seconds, as `SessionRecord::with_expires_at` would.
        record.expires_at = date(truncate(expires_at));
        let plan = match original {
            None => Plan::Create(record),
            Some((id, _)) if state.cycle => Plan::Cycle(id, record),
            Some((_, version)) => {
                record.version = version;
                Plan::Save {
                    record,
                    resend_cookie,
                }
            }
        };
        (plan, now)
    }
}

/// The cookie for a session just written: its ID, and for a persistent ("remember me")
/// session a `Max-Age` of the time left at `now`.
pub(super) fn cookie_for(record: &SessionRecord, now: i128) -> CookieChange {
    CookieChange::Set {
        id: record.id,
        max_age: record
            .idle_timeout
            .map(|_| duration(record.expires_at.unix_timestamp_nanos() - now)),
    }
}

/// The cookie after a save of `record`: sent again when asked to, or when the session is
/// persistent (its `Max-Age` counts down).
pub(super) fn saved(record: &SessionRecord, resend_cookie: bool, now: i128) -> CookieChange {
    if resend_cookie || record.idle_timeout.is_some() {
        cookie_for(record, now)
    } else {
        CookieChange::None
    }
}

pub(super) fn touched(
    live: bool,
    id: SessionId,
    resend_cookie: bool,
    max_age: Option<Duration>,
) -> CookieChange {
    match (live, resend_cookie) {
        (true, true) => CookieChange::Set { id, max_age },
        (true, false) => CookieChange::None,
        (false, _) => CookieChange::Remove,
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    #[test]
    fn only_persistent_sessions_get_a_max_age() {
        let at = |seconds| OffsetDateTime::from_unix_timestamp(seconds).unwrap();
        let mut record = SessionRecord::new(SessionId::from_bytes([1; 16]), at(0), at(5));
        let max_age = |record: &SessionRecord| match cookie_for(record, 1_000_000_000) {
            CookieChange::Set { max_age, .. } => max_age,
            other => panic!("{other:?}"),
        };
        assert_eq!(max_age(&record), None);
        assert!(matches!(saved(&record, false, 0), CookieChange::None));
        record.idle_timeout = Some(Duration::minutes(1));
        assert_eq!(max_age(&record), Some(Duration::seconds(4)));
        assert!(matches!(saved(&record, false, 0), CookieChange::Set { .. }));
    }
}
