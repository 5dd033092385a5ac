//! A shard's expiry queue: which key expires when, soonest first.
//!
//! Deadlines mostly arrive in order: a session written now with the store's usual idle
//! timeout expires after every session written before it with that timeout. So the queue
//! keeps pairs in a few *lanes*, each a ring buffer whose deadlines never decrease from front
//! to back: a push appends to the lane whose last deadline is the latest one not after the
//! new one (at most [`LANES`] lanes, one per timeout in use, roughly), and a pop takes the
//! front of the lane with the earliest front. Both touch memory that was just used, where a
//! binary heap's pop walks about `log2(n)` cold cache lines from the root to a leaf. A pair
//! that fits no lane (a deadline earlier than every lane's last, with all lanes in use) goes
//! to a binary heap, which the pops consult too. A pair takes 24 bytes wherever it is.
//!
//! The queue does not know what the map holds: a pair goes stale when its entry is removed or
//! its deadline moves, and the shard skips stale pairs when they come out (lazy deletion) and
//! rebuilds the queue when they outnumber live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::hash::Key;

/// The most lanes a queue keeps.
const LANES: usize = 4;

/// `(deadline, key)` pairs in deadline order. See the module docs.
#[derive(Default)]
pub(super) struct ExpiryQueue {
    /// Each lane's deadlines never decrease from front to back; no lane is empty.
    lanes: Vec<VecDeque<(i64, Key)>>,
    /// The pairs that fit no lane.
    rest: BinaryHeap<Reverse<(i64, Key)>>,
    /// How many pairs the lanes and the heap hold.
    len: usize,
}

/// Where the earliest pair is.
enum Earliest {
    Lane(usize),
    Rest,
}

impl ExpiryQueue {
    /// How many pairs the queue holds, stale ones included.
    pub(super) const fn len(&self) -> usize {
        self.len
    }

    /// Adds `key`, due at `at` (whole seconds).
    pub(super) fn push(&mut self, at: i64, key: Key) {
        self.len += 1;
        // The lane whose last deadline is the latest one not after `at`: the tightest fit
        // keeps the other lanes for deadlines that would not fit this one.
        let mut fit: Option<(usize, i64)> = None;
        for (index, lane) in self.lanes.iter().enumerate() {
            if let Some(&(last, _)) = lane.back()
                && last <= at
                && fit.is_none_or(|(_, best)| last > best)
            {
                fit = Some((index, last));
            }
        }
        if let Some(lane) = fit.and_then(|(index, _)| self.lanes.get_mut(index)) {
            lane.push_back((at, key));
        } else if self.lanes.len() < LANES {
            self.lanes.push(VecDeque::from([(at, key)]));
        } else {
            self.rest.push(Reverse((at, key)));
        }
    }

    /// The earliest deadline in the queue, and where its pair is.
    fn earliest(&self) -> Option<(i64, Earliest)> {
        let mut earliest = self
            .rest
            .peek()
            .map(|Reverse((at, _))| (*at, Earliest::Rest));
        for (index, lane) in self.lanes.iter().enumerate() {
            if let Some(&(at, _)) = lane.front()
                && earliest.as_ref().is_none_or(|(best, _)| at < *best)
            {
                earliest = Some((at, Earliest::Lane(index)));
            }
        }
        earliest
    }

    /// The earliest deadline in the queue.
    pub(super) fn peek(&self) -> Option<i64> {
        self.earliest().map(|(at, _)| at)
    }

    /// Removes and returns a pair with the earliest deadline.
    pub(super) fn pop(&mut self) -> Option<(i64, Key)> {
        let pair = match self.earliest()?.1 {
            Earliest::Rest => self.rest.pop().map(|Reverse(pair)| pair),
            Earliest::Lane(index) => {
                let lane = self.lanes.get_mut(index)?;
                let pair = lane.pop_front();
                if lane.is_empty() {
                    // Lanes are unordered: the last one takes the emptied one's place.
                    self.lanes.swap_remove(index);
                }
                pair
            }
        }?;
        self.len -= 1;
        Some(pair)
    }

    /// Replaces the queue's pairs with `pairs` (in any order): one lane, sorted.
    pub(super) fn rebuild(&mut self, pairs: impl IntoIterator<Item = (i64, Key)>) {
        let mut pairs: Vec<(i64, Key)> = pairs.into_iter().collect();
        pairs.sort_unstable_by_key(|(at, _)| *at);
        self.len = pairs.len();
        self.rest = BinaryHeap::new();
        self.lanes.clear();
        if !pairs.is_empty() {
            self.lanes.push(VecDeque::from(pairs));
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
        // A new earlier deadline comes out first.
        queue.push(5, key(3));
        queue.push(20, key(4));
        assert_eq!(queue.peek(), Some(5));
        let drained = drain(&mut queue);
        assert_eq!(drained.first(), Some(&(5, 3)));
        let mut later: Vec<(i64, u8)> = drained.get(1..).unwrap_or_default().to_vec();
        later.sort_unstable();
        assert_eq!(later, [(20, 2), (20, 4)], "ties in no particular order");
        assert_eq!(pop(&mut queue), None);
    }

    #[test]
    fn a_pair_takes_24_bytes() {
        assert_eq!(size_of::<(i64, Key)>(), 24);
        assert_eq!(size_of::<Reverse<(i64, Key)>>(), 24);
    }

    #[test]
    fn extreme_deadlines() {
        let mut queue = ExpiryQueue::default();
        queue.push(i64::MAX, key(1));
        queue.push(i64::MIN, key(2));
        assert_eq!(drain(&mut queue), [(i64::MIN, 2), (i64::MAX, 1)]);
    }

    #[test]
    fn out_of_order_deadlines_take_new_lanes_then_the_heap() {
        let mut queue = ExpiryQueue::default();
        // Decreasing deadlines: four lanes, then the heap.
        for n in 0..10u8 {
            queue.push(100 - i64::from(n), key(n));
        }
        assert_eq!(queue.lanes.len(), LANES);
        assert_eq!(queue.rest.len(), 10 - LANES);
        // In-order pushes join the lane they fit best.
        queue.push(100, key(20));
        queue.push(97, key(21));
        assert_eq!(queue.rest.len(), 10 - LANES);
        let deadlines: Vec<i64> = drain(&mut queue).iter().map(|(at, _)| *at).collect();
        assert_eq!(
            deadlines,
            [91, 92, 93, 94, 95, 96, 97, 97, 98, 99, 100, 100]
        );
        assert!(queue.lanes.is_empty());
    }

    #[test]
    fn any_push_and_pop_sequence_pops_the_earliest_pair() {
        // A reference model: the pairs the queue holds, as a plain list.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut queue = ExpiryQueue::default();
        let mut model: Vec<(i64, u8)> = Vec::new();
        for step in 0..20_000u32 {
            let roll = next();
            if roll % 3 == 0 {
                let popped = pop(&mut queue);
                let earliest = model.iter().map(|(at, _)| *at).min();
                assert_eq!(popped.map(|(at, _)| at), earliest, "step {step}");
                if let Some(pair) = popped {
                    let index = model.iter().position(|p| *p == pair).expect("held");
                    model.swap_remove(index);
                }
            } else {
                // Mostly increasing deadlines, some earlier, a few far later.
                let base = i64::from(step / 8);
                let at = match roll % 10 {
                    0 => base - (roll >> 40) as i64 % 50,
                    1 => base + 10_000,
                    _ => base,
                };
                let n = (roll >> 8) as u8;
                queue.push(at, key(n));
                model.push((at, n));
            }
            assert_eq!(queue.len(), model.len());
            assert_eq!(queue.peek(), model.iter().map(|(at, _)| *at).min());
        }
        let mut rest: Vec<i64> = model.iter().map(|(at, _)| *at).collect();
        rest.sort_unstable();
        let drained: Vec<i64> = drain(&mut queue).iter().map(|(at, _)| *at).collect();
        assert_eq!(drained, rest);
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
