//! URL-safe base64 without padding, into and out of fixed buffers: the alphabet
//! of cursor ids (no byte an `id:` field or a header value forbids).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The two characters of every 12-bit value: a group of three bytes is two
/// lookups.
const PAIRS: [[u8; 2]; 4096] = {
    let mut pairs = [[0; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        pairs[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    pairs
};

/// Encodes `input` into `out` and returns the number of bytes written;
/// `out` must hold `encoded_len(input.len())` bytes.
#[inline]
pub(crate) fn encode(input: &[u8], out: &mut [u8]) -> usize {
    let sym = |word: u32, shift: u32| ALPHABET[(word >> shift & 63) as usize];
    let mut n = 0;
    let full = input.chunks_exact(3);
    let tail = full.remainder();
    for (chunk, dest) in full.zip(out.chunks_exact_mut(4)) {
        let word = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        dest[..2].copy_from_slice(&PAIRS[(word >> 12) as usize]);
        dest[2..].copy_from_slice(&PAIRS[(word & 0xfff) as usize]);
        n += 4;
    }
    if !tail.is_empty() {
        let word = u32::from(tail[0]) << 16 | u32::from(tail.get(1).copied().unwrap_or(0)) << 8;
        for i in 0..=tail.len() {
            if let Some(slot) = out.get_mut(n) {
                *slot = sym(word, 18 - 6 * i as u32);
                n += 1;
            }
        }
    }
    n
}

/// The encoded length of `len` bytes.
#[cfg(test)]
pub(crate) const fn encoded_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}

fn value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    }))
}

/// Decodes `input` into `out`; `None` when it is not canonical base64url
/// or does not fit.
pub(crate) fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.len() % 4 == 1 {
        return None;
    }
    let mut n = 0;
    for chunk in input.chunks(4) {
        let mut word = 0_u32;
        for (i, &c) in chunk.iter().enumerate() {
            word |= value(c)? << (18 - 6 * i);
        }
        let bytes = word.to_be_bytes();
        let produced = chunk.len() - 1;
        // Reject non-canonical trailing bits: one text per byte string.
        if bytes[1 + produced..].iter().any(|&b| b != 0) {
            return None;
        }
        let dest = out.get_mut(n..n + produced)?;
        dest.copy_from_slice(&bytes[1..=produced]);
        n += produced;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(input: &[u8]) -> Vec<u8> {
        let mut text = vec![0; encoded_len(input.len())];
        assert_eq!(encode(input, &mut text), text.len());
        let mut out = vec![0; input.len()];
        let n = decode(&text, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn known_vectors() {
        let mut out = [0; 8];
        let n = encode(b"\xfb\xff", &mut out);
        assert_eq!(&out[..n], b"-_8");
        let n = encode(b"foobar", &mut out);
        assert_eq!(&out[..n], b"Zm9vYmFy");
        assert_eq!(encoded_len(96), 128);
    }

    #[test]
    fn bad_text_is_refused_without_panic() {
        let mut out = [0; 4];
        assert!(decode(b"a", &mut out).is_none());
        assert!(decode(b"ab=c", &mut out).is_none());
        assert_eq!(decode(b"Zm8", &mut out), Some(2));
        assert!(decode(b"Zm8", &mut [0; 1]).is_none(), "does not fit");
        assert!(decode(b"Zn", &mut out).is_none(), "non-canonical bits");
    }

    proptest! {
        #[test]
        fn every_byte_string_round_trips(input in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(round_trip(&input), input);
        }

        #[test]
        fn arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = [0; 160];
            let _ = decode(&text, &mut out);
        }
    }
}
