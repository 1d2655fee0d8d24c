//! [`RunPool`]: the buffers of big runs, given back once sent.
//!
//! A run of a busy stream fills a buffer of [`RUN`] bytes. Taken from the
//! allocator and freed after every write, such buffers make glibc's `free`
//! trim the heap top again and again while many streams are busy (the
//! freed buffers meet at the top of the heap), and the next ones fault
//! their pages in anew: with 500 busy streams that cost more than the
//! writes themselves. A buffer sent goes back to its multiplexer's pool
//! instead (the last one given back is the first taken, still in cache),
//! and the pool keeps at most [`SPARE`] of them.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

/// The size of a big run's buffer.
pub(crate) const RUN: usize = 32 * 1024;
/// The most buffers a pool keeps unused (2 MiB).
const SPARE: usize = 64;

/// Buffers of [`RUN`] bytes for the big runs of one multiplexer's streams.
#[derive(Default)]
pub(crate) struct RunPool {
    spare: Mutex<Vec<BytesMut>>,
}

impl RunPool {
    /// An empty buffer of [`RUN`] bytes: the one given back last, or a new
    /// one.
    pub(crate) fn take(&self) -> BytesMut {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        spare.unwrap_or_else(|| BytesMut::with_capacity(RUN))
    }

    /// `buf` (taken from `pool`) as the bytes of a run, which gives the
    /// buffer back when the last of them is dropped.
    pub(crate) fn send(pool: &Arc<Self>, buf: BytesMut) -> Bytes {
        Bytes::from_owner(Sent {
            buf,
            pool: Arc::clone(pool),
        })
    }

    /// Keeps `buf` (empty, or emptied here) for the next run, if there is room.
    pub(crate) fn give(&self, mut buf: BytesMut) {
        // A buffer that grew past its size (a last event longer than the
        // room left) is not kept: the pool holds `SPARE` runs' worth.
        if buf.capacity() != RUN {
            return;
        }
        buf.clear();
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE {
            spare.push(buf);
        }
    }

    #[cfg(test)]
    pub(crate) fn spares(&self) -> usize {
        self.spare.lock().unwrap().len()
    }
}

impl std::fmt::Debug for RunPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPool").finish_non_exhaustive()
    }
}

/// A run's buffer while its bytes are out.
struct Sent {
    buf: BytesMut,
    pool: Arc<RunPool>,
}

impl AsRef<[u8]> for Sent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_buffer_comes_back_once_its_last_bytes_are_dropped() {
        let pool = Arc::new(RunPool::default());
        let mut buf = pool.take();
        assert_eq!(buf.capacity(), RUN);
        buf.extend_from_slice(b"data: x\n\n");
        let at = buf.as_ptr();
        let sent = RunPool::send(&pool, buf);
        assert_eq!(&sent[..], b"data: x\n\n");
        let part = sent.slice(6..7);
        drop(sent);
        assert_eq!(pool.spares(), 0, "still out");
        assert_eq!(&part[..], b"x");
        drop(part);
        assert_eq!(pool.spares(), 1);
        // The same memory, empty, and taken first.
        let again = pool.take();
        assert_eq!(
            (again.as_ptr(), again.len(), again.capacity()),
            (at, 0, RUN)
        );
    }

    #[test]
    fn a_pool_keeps_a_bounded_number_of_buffers_and_none_that_grew() {
        let pool = Arc::new(RunPool::default());
        let out: Vec<Bytes> = (0..SPARE + 10)
            .map(|_| RunPool::send(&pool, pool.take()))
            .collect();
        drop(out);
        assert_eq!(pool.spares(), SPARE);
        let pool = Arc::new(RunPool::default());
        let mut grown = pool.take();
        grown.extend_from_slice(&[b'x'; RUN + 1]);
        drop(RunPool::send(&pool, grown));
        assert_eq!(pool.spares(), 0);
    }
}
