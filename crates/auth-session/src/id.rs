//! Fresh session IDs from a per-thread ChaCha20 generator seeded by the operating system.
//!
//! A session ID is 128 bits from a CSPRNG ([`SessionId::LEN`] bytes). Asking the kernel for
//! each one (`getrandom`) costs a system call per new session; instead every thread keeps a
//! ChaCha20 generator keyed with 256 bits from the operating system's CSPRNG
//! ([`auth_core::fill_random`]) and draws a fresh key from the operating system again after
//! [`RESEED_AFTER`] IDs. ChaCha20 is a stream cipher: its output cannot be told from random
//! or predicted without the key, which never leaves the thread.
//!
//! IDs travel as 22 characters of unpadded base64url, encoded and parsed by
//! [`SessionId`]'s own codec ([`SessionId::encode_into`], [`SessionId::parse_bytes`]): one
//! pass, no allocation. [`IdText`] (an ID's text on the stack) and [`parse_id`] /
//! [`parse_id_bytes`] are the layer's names for them, left to the compiler's inlining as
//! when they held their own codec (marked `#[inline]`, the `session_paired` load ratios
//! measured ~4% worse for the same instruction count).
//!
//! Like any user-space generator (including `rand`'s `ThreadRng`), a process that forks after
//! drawing IDs hands the same state to the child until the next reseed: do not fork a server
//! process after it has served requests.

use std::cell::RefCell;

use auth_core::{RandomError, SessionId};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// An ID's text: what [`SessionId::encode`] returns, on the stack.
pub(crate) struct IdText([u8; SessionId::ENCODED_LEN]);

impl IdText {
    pub(crate) fn new(id: &SessionId) -> Self {
        let mut text = [0u8; SessionId::ENCODED_LEN];
        id.encode_into(&mut text);
        Self(text)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn as_str(&self) -> &str {
        // Always ASCII from the alphabet.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// [`SessionId::parse`]: exactly 22 characters of base64url, no padding, and the unused low
/// four bits of the last character zero (one ID, one spelling).
pub(crate) fn parse_id(text: &str) -> Option<SessionId> {
    SessionId::parse(text).ok()
}

/// [`parse_id`] of raw bytes (which, to parse, must be ASCII): [`SessionId::parse_bytes`].
pub(crate) fn parse_id_bytes(text: &[u8]) -> Option<SessionId> {
    SessionId::parse_bytes(text).ok()
}

/// IDs drawn from one key before the thread asks the operating system for a new one.
const RESEED_AFTER: u32 = 1024;

struct Generator {
    rng: ChaCha20Rng,
    /// IDs left before the next reseed.
    left: u32,
}

thread_local! {
    static GENERATOR: RefCell<Option<Generator>> = const { RefCell::new(None) };
}

/// A fresh random session ID.
///
/// # Errors
///
/// When the operating system cannot provide the seed (the caller answers 503).
pub(crate) fn new_session_id() -> Result<SessionId, RandomError> {
    let drawn = GENERATOR.try_with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return None;
        };
        Some(draw(&mut slot))
    });
    match drawn {
        Ok(Some(id)) => id,
        // The thread is shutting down (or, impossibly, re-entered): straight from the kernel.
        _ => SessionId::generate(),
    }
}

fn draw(slot: &mut Option<Generator>) -> Result<SessionId, RandomError> {
    let generator = match slot {
        Some(generator) if generator.left > 0 => generator,
        _ => {
            let mut seed = [0u8; 32];
            auth_core::fill_random(&mut seed)?;
            slot.insert(Generator {
                rng: ChaCha20Rng::from_seed(seed),
                left: RESEED_AFTER,
            })
        }
    };
    generator.left -= 1;
    let mut bytes = [0u8; SessionId::LEN];
    generator.rng.fill_bytes(&mut bytes);
    Ok(SessionId::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_across_reseeds_and_threads() {
        let draw_many = || {
            (0..3 * RESEED_AFTER)
                .map(|_| new_session_id().unwrap().as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        let mut seen = HashSet::new();
        for id in draw_many() {
            assert!(seen.insert(id));
        }
        let other = std::thread::spawn(draw_many).join().unwrap();
        for id in other {
            assert!(seen.insert(id), "two threads drew the same ID");
        }
    }

    #[test]
    fn ids_use_every_bit() {
        // 4096 IDs: every one of the 128 bit positions is set in some and clear in others.
        let (mut any, mut all) = ([0u8; 16], [0xFFu8; 16]);
        for _ in 0..4096 {
            let id = new_session_id().unwrap();
            for (i, byte) in id.as_bytes().iter().enumerate() {
                any[i] |= byte;
                all[i] &= byte;
            }
        }
        assert_eq!(any, [0xFF; 16]);
        assert_eq!(all, [0; 16]);
    }

    #[test]
    fn text_matches_the_general_encoding() {
        for id in (0..2000).map(|_| new_session_id().unwrap()).chain([
            SessionId::from_bytes([0; 16]),
            SessionId::from_bytes([0xFF; 16]),
        ]) {
            let text = IdText::new(&id);
            assert_eq!(text.as_str(), id.encode());
            assert_eq!(parse_id(text.as_str()), Some(id));
        }
    }

    #[test]
    fn parsing_agrees_with_session_id_parse() {
        // Random strings over the alphabet plus the characters it excludes, at and around the
        // right length, and one-character mutations of real IDs.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let extra = b"=+/ .\x00\xC3\xA9";
        let chars: Vec<u8> = alphabet.iter().chain(extra).copied().collect();
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let check = |bytes: &[u8]| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                assert_eq!(parse_id_bytes(bytes), None, "{bytes:?}");
                return;
            };
            assert_eq!(parse_id(text), SessionId::parse(text).ok(), "{text:?}");
            assert_eq!(parse_id_bytes(bytes), parse_id(text), "{text:?}");
        };
        for len in 20..=24 {
            for _ in 0..5000 {
                let text: Vec<u8> = (0..len)
                    .map(|_| chars[(rng.next_u32() as usize) % chars.len()])
                    .collect();
                check(&text);
            }
        }
        for _ in 0..2000 {
            let mut text = IdText::new(&new_session_id().unwrap()).0;
            let at = (rng.next_u32() as usize) % text.len();
            text[at] = chars[(rng.next_u32() as usize) % chars.len()];
            check(&text);
        }
        // Every possible last character.
        for c in 0..=255u8 {
            let mut text = IdText::new(&SessionId::from_bytes([0xAB; 16])).0;
            text[21] = c;
            check(&text);
        }
        check(b"");
        check("é".repeat(11).as_bytes());
    }

    #[test]
    fn the_generator_is_reseeded() {
        GENERATOR.with(|cell| *cell.borrow_mut() = None);
        new_session_id().unwrap();
        let left = || GENERATOR.with(|cell| cell.borrow().as_ref().unwrap().left);
        assert_eq!(left(), RESEED_AFTER - 1);
        for _ in 1..RESEED_AFTER {
            new_session_id().unwrap();
        }
        assert_eq!(left(), 0);
        new_session_id().unwrap();
        assert_eq!(left(), RESEED_AFTER - 1);
    }
}
