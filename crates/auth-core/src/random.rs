//! Randomness from the operating system's CSPRNG, and nothing else.

use crate::error::RandomError;

/// Fills `buf` with bytes from the operating system's CSPRNG (never a user-space generator
/// seeded once), for nonces, tokens and identifiers.
///
/// # Errors
///
/// [`RandomError`] when the operating system cannot provide randomness; callers should fail
/// the operation (503) rather than fall back to a weaker source.
///
/// ```
/// let mut nonce = [0u8; 12];
/// auth_core::fill_random(&mut nonce)?;
/// # Ok::<(), auth_core::RandomError>(())
/// ```
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

pub(crate) use fill_random as fill;
