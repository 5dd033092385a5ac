//! A shard's expiry queue: which key expires when, soonest first.
//!
//! Deadlines are whole seconds, and a store's sessions mostly get the same few deadlines
//! (every session written in one second with the same idle timeout shares one), so the queue
//! is a sorted map of seconds to the keys due then. A push appends to its second's list and a
//! pop takes from the end of the earliest one: both touch memory that was just used, where a
//! binary heap's pop walks about `log2(n)` cold cache lines from the root to a leaf. Within
//! one second the order is unspecified.
//!
//! The queue does not know what the map holds: a pair goes stale when its entry is removed or
//! its deadline moves, and the shard skips stale pairs when they come out (lazy deletion) and
//! rebuilds the queue when they outnumber live ones.

use std::collections::BTreeMap;

use super::hash::Key;

/// `(deadline, key)` pairs in deadline order. See the module docs.
#[derive(Default)]
pub(super) struct ExpiryQueue {
    /// Never an empty list.
    due: BTreeMap<i64, Vec<Key>>,
    /// How many pairs `due` holds.
    len: usize,
}

impl ExpiryQueue {
    /// How many pairs the queue holds, stale ones included.
    pub(super) const fn len(&self) -> usize {
        self.len
    }

    /// Adds `key`, due at `at` (whole seconds).
    pub(super) fn push(&mut self, at: i64, key: Key) {
        self.due.entry(at).or_default().push(key);
        self.len += 1;
    }

    /// The earliest deadline in the queue.
    pub(super) fn peek(&self) -> Option<i64> {
        self.due.first_key_value().map(|(at, _)| *at)
    }

    /// Removes and returns a pair with the earliest deadline.
    pub(super) fn pop(&mut self) -> Option<(i64, Key)> {
        let mut first = self.due.first_entry()?;
        let at = *first.key();
        let keys = first.get_mut();
        let key = keys.pop();
        if keys.is_empty() {
            first.remove();
        }
        // A list is never empty, so `key` is always `Some`.
        let key = key?;
        self.len -= 1;
        Some((at, key))
    }

    /// Replaces the queue's pairs with `pairs` (in any order).
    pub(super) fn rebuild(&mut self, pairs: impl IntoIterator<Item = (i64, Key)>) {
        let mut pairs: Vec<(i64, Key)> = pairs.into_iter().collect();
        pairs.sort_unstable_by_key(|(at, _)| *at);
        self.len = pairs.len();
        self.due = BTreeMap::new();
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            if let Some((at, _)) = run.first() {
                self.due
                    .insert(*at, run.iter().map(|(_, key)| *key).collect());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key([n; 16])
    }

    /// A popped pair with the key's first byte (keys have no `Debug`: they are session IDs).
    fn pop(queue: &mut ExpiryQueue) -> Option<(i64, u8)> {
        queue.pop().map(|(at, key)| (at, key.0[0]))
    }

    fn drain(queue: &mut ExpiryQueue) -> Vec<(i64, u8)> {
        let mut out = Vec::new();
        while let Some(pair) = pop(queue) {
            out.push(pair);
        }
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.peek(), None);
        out
    }

    #[test]
    fn pops_in_deadline_order_whatever_the_push_order() {
        let mut queue = ExpiryQueue::default();
        for (at, n) in [(30, 1), (10, 2), (20, 3), (10, 4), (-5, 5), (30, 6)] {
            queue.push(at, key(n));
        }
        assert_eq!(queue.len(), 6);
        assert_eq!(queue.peek(), Some(-5));
        let popped = drain(&mut queue);
        let deadlines: Vec<i64> = popped.iter().map(|(at, _)| *at).collect();
        assert_eq!(deadlines, [-5, 10, 10, 20, 30, 30]);
        let mut keys: Vec<u8> = popped.iter().map(|(_, n)| *n).collect();
        keys.sort_unstable();
        assert_eq!(keys, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn pushes_between_pops_keep_the_order() {
        let mut queue = ExpiryQueue::default();
        queue.push(10, key(1));
        queue.push(20, key(2));
        assert_eq!(pop(&mut queue), Some((10, 1)));
        // The earliest second emptied; a new earlier deadline comes out first.
        queue.push(5, key(3));
        queue.push(20, key(4));
        assert_eq!(queue.peek(), Some(5));
        assert_eq!(drain(&mut queue), [(5, 3), (20, 4), (20, 2)]);
        assert_eq!(pop(&mut queue), None);
    }

    #[test]
    fn extreme_deadlines() {
        let mut queue = ExpiryQueue::default();
        queue.push(i64::MAX, key(1));
        queue.push(i64::MIN, key(2));
        assert_eq!(drain(&mut queue), [(i64::MIN, 2), (i64::MAX, 1)]);
    }

    #[test]
    fn rebuild_replaces_every_pair() {
        let mut queue = ExpiryQueue::default();
        queue.push(1, key(9));
        queue.push(2, key(9));
        queue.rebuild([(7, key(1)), (3, key(2)), (7, key(3))]);
        assert_eq!(queue.len(), 3);
        let popped = drain(&mut queue);
        assert_eq!(popped.first(), Some(&(3, 2)));
        assert_eq!(popped.iter().filter(|(at, _)| *at == 7).count(), 2);
        queue.rebuild([]);
        assert_eq!(queue.len(), 0);
        assert_eq!(pop(&mut queue), None);
    }
}
