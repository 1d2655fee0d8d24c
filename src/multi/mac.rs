//! [`CursorKey`]: the secret that makes cursors and audience tags tamper-safe,
//! and the keyed hash (SipHash-2-4) behind it.
//!
//! `SipHash` is a pseudo-random function designed for short inputs under a
//! 128-bit secret key: without the key, an attacker cannot compute the tag of
//! any message, so an edited cursor fails verification (a cursor carries
//! 48 bits of the tag: probability of a forgery per attempt 2^-48). It is
//! small enough to carry here instead of a cryptography dependency.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The 128-bit secret that signs multi-topic cursors and audience tags.
///
/// Every server that may resume a client's stream must use the same key: set
/// it from your secret store with [`CursorKey::new`] on a cluster. A
/// [`Multiplexer`](crate::multi::Multiplexer) built without one uses
/// [`CursorKey::random`], which is right for a single process (cursors then
/// stop verifying after a restart: every topic gets a gap, never a wrong event).
///
/// ```
/// use tower_sse::multi::CursorKey;
///
/// let key = CursorKey::new(*b"0123456789abcdef");
/// assert_eq!(format!("{key:?}"), "CursorKey(..)");
/// assert_ne!(CursorKey::random(), CursorKey::random());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey {
    k0: u64,
    k1: u64,
}

impl CursorKey {
    /// A key from 16 secret bytes.
    #[must_use]
    pub const fn new(bytes: [u8; 16]) -> Self {
        let mut k0 = [0; 8];
        let mut k1 = [0; 8];
        let mut i = 0;
        while i < 8 {
            k0[i] = bytes[i];
            k1[i] = bytes[i + 8];
            i += 1;
        }
        Self {
            k0: u64::from_le_bytes(k0),
            k1: u64::from_le_bytes(k1),
        }
    }

    /// A fresh random key for this process.
    #[must_use]
    pub fn random() -> Self {
        Self {
            k0: random_u64(),
            k1: random_u64(),
        }
    }

    /// The 64-bit tag of `parts`, concatenated.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> u64 {
        let mut hasher = self.start();
        for part in parts {
            hasher.write(part);
        }
        hasher.finish()
    }

    /// A tag computation to feed piece by piece; clone it to tag many
    /// messages that share a prefix at the cost of their suffixes only.
    pub(crate) fn start(&self) -> TagState {
        TagState::new(self.k0, self.k1)
    }
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// A random `u64` from the standard library's OS-seeded hasher keys.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// SipHash-2-4 with a 64-bit output, streaming over several writes.
///
/// `Default` is an all-zero state, not a keyed one: a placeholder to
/// overwrite, never to hash with.
#[derive(Clone, Default)]
pub(crate) struct TagState {
    v: [u64; 4],
    tail: u64,
    ntail: usize,
    len: usize,
}

impl TagState {
    fn new(k0: u64, k1: u64) -> Self {
        Self {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        Self::round(&mut self.v);
        Self::round(&mut self.v);
        self.v[0] ^= m;
    }

    fn write_byte(&mut self, b: u8) {
        self.tail |= u64::from(b) << (8 * self.ntail);
        self.ntail += 1;
        if self.ntail == 8 {
            let m = self.tail;
            self.compress(m);
            self.tail = 0;
            self.ntail = 0;
        }
    }

    #[inline]
    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len());
        while self.ntail != 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            self.write_byte(b);
            bytes = rest;
        }
        // Whole words at a time.
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut m = [0; 8];
            m.copy_from_slice(word);
            self.compress(u64::from_le_bytes(m));
        }
        // The rest (under a word) as one word: `ntail` is 0 here.
        // (Shifted in byte by byte: a copy into a word and a read of the word
        // would wait for the copy's stores.)
        let rest = words.remainder();
        self.tail = rest
            .iter()
            .enumerate()
            .fold(0, |word, (i, &b)| word | u64::from(b) << (8 * i));
        self.ntail = rest.len();
    }

    #[inline]
    pub(crate) fn finish(mut self) -> u64 {
        // The length modulo 256 goes in the top byte, as the algorithm says.
        #[allow(clippy::cast_possible_truncation)]
        let b = ((self.len as u64) << 56) | self.tail;
        self.compress(b);
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            Self::round(&mut self.v);
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_key() -> CursorKey {
        let mut key = [0; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        CursorKey::new(key)
    }

    #[test]
    fn siphash_matches_the_reference_vectors_of_the_paper() {
        let key = reference_key();
        let message: Vec<u8> = (0..15).collect();
        // Appendix A of "SipHash: a fast short-input PRF".
        assert_eq!(key.tag(&[&message]), 0xa129_ca61_49be_45e5);
        assert_eq!(key.tag(&[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn split_writes_hash_like_one_write() {
        let key = reference_key();
        let message: Vec<u8> = (0..40).collect();
        for cut in 0..message.len() {
            let (a, b) = message.split_at(cut);
            assert_eq!(key.tag(&[a, b]), key.tag(&[&message]));
        }
    }

    #[test]
    fn different_keys_give_different_tags() {
        assert_ne!(
            CursorKey::new([1; 16]).tag(&[b"x"]),
            CursorKey::new([2; 16]).tag(&[b"x"])
        );
    }
}
