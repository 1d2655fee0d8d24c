//! Cursor steps shared by the subscriptions that are in the same state.
//!
//! A checkpoint's id is a keyed hash of what it holds, so subscriptions of
//! one subscriber (every anonymous subscription is the same one) to the same
//! topics, started at the same positions, hold the same cursor byte for
//! byte: a dashboard's viewers, say. Each event then takes every one of
//! them to the same next cursor. The first to take a step leaves it in
//! [`Steps`], a table of the multiplexer; the others copy its result (the
//! cursor's bytes, its tag state and the event's tail) instead of hashing
//! and encoding it again.
//!
//! A step is found by what its result depends on: the subscriber, the
//! cursor it starts from (named by its tag, a keyed hash of every byte of
//! it: two cursors with the same tag are the same cursor, but with
//! probability 2^-64), the topic and its new position (compared whole).
//!
//! The table is fixed: a slot of about 460 bytes per event a subscriber may
//! fall behind the hub ([`HubConfig::buffer`](crate::HubConfig::buffer),
//! between [`MIN_SLOTS`] and [`MAX_SLOTS`]: 120 KB for the default 256),
//! taken at the first step a subscription leaves, and in each slot, once a
//! follower sent it alone, the step's event whole (body and tail, at most
//! [`MAX_WHOLE`] bytes), shared, so that the next followers' runs of just
//! that event go out without a copy. Each slot is taken with
//! `try_lock`, so a busy slot or another state's step costs a miss, never a
//! wait, and no client can make the table grow. Consecutive events of one topic
//! from one checkpoint take consecutive slots (positions end in a count),
//! so a subscription that runs as far behind the first as the hub lets it
//! still finds its steps.

use std::sync::{Mutex, OnceLock};

use bytes::{Bytes, BytesMut};

use super::cursor::{Cursor, Moved, MAX_RAW};

/// The fewest slots in a table.
pub(crate) const MIN_SLOTS: usize = 64;
/// The most slots in a table (1.9 MB, and at most 4 MiB of whole events).
pub(crate) const MAX_SLOTS: usize = 4096;

/// The longest position a step is kept for: a hub id (`<epoch>.<offset>`)
/// or a Redis one (`<epoch>.<ms>-<seq>`) fits.
const MAX_POSITION: usize = 38;

/// The longest tail a step is kept for: a type line of a name up to 58
/// bytes with the longest cursor.
const MAX_TAIL: usize = 192;

/// The longest event a step keeps whole (its body and tail, shared): the
/// usual live event. The table then holds at most [`MAX_SLOTS`] times this
/// (4 MiB; 256 KiB for the default 256 slots) beside what the hub holds.
pub(crate) const MAX_WHOLE: usize = 1024;

/// The steps a multiplexer's subscriptions share.
pub(crate) struct Steps {
    /// How many slots (a power of two).
    len: usize,
    /// Taken at the first step left.
    slots: OnceLock<Box<[Mutex<Step>]>>,
    /// Steps taken from the table.
    #[cfg(test)]
    pub(crate) taken: std::sync::atomic::AtomicUsize,
}

/// A step: what it starts from and where it leads, its bytes one after the
/// other (the position, the cursor's bytes, the event's tail), so that taking
/// it reads a few cache lines of a slot and not the room it has for the
/// longest ones.
#[repr(C)]
struct Step {
    // What the step starts from.
    subscriber: u64,
    /// The tag of the cursor it starts from.
    from: u64,
    // Where it leads.
    to: Moved,
    index: u8,
    /// 0 in an unused slot (every kept position has a byte).
    position_len: u8,
    raw_len: u8,
    tail_len: u8,
    /// Where the cursor's text is in the tail, and its length.
    cursor: (u8, u8),
    bytes: [u8; MAX_POSITION + MAX_RAW + MAX_TAIL],
    /// The whole event (body and tail) as shared bytes, once a follower
    /// sent it alone (at most [`MAX_WHOLE`] long): the next ones send it
    /// without a copy.
    whole: Option<Bytes>,
}

impl Step {
    /// Whether this is the step `key` names (never, in an unused slot).
    #[inline]
    fn starts(&self, key: &StepKey<'_>) -> bool {
        self.from == key.from
            && self.subscriber == key.subscriber
            && self.index == key.index
            && self.position_len != 0
            && same(&self.bytes[..usize::from(self.position_len)], key.position)
    }

    /// The cursor's bytes (and what follows them, up to [`MAX_RAW`]) and the
    /// event's tail.
    #[inline]
    fn raw_and_tail(&self) -> Option<(&[u8; MAX_RAW], &[u8])> {
        let raw = usize::from(self.position_len);
        let tail = raw + usize::from(self.raw_len);
        Some((
            self.bytes.get(raw..raw + MAX_RAW)?.try_into().ok()?,
            self.bytes.get(tail..tail + usize::from(self.tail_len))?,
        ))
    }
}

/// Whether `a` and `b` are the same bytes. A hub id is 8 to 16 bytes: two
/// words of each (overlapping when shorter than 16) say it without a call
/// to `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let word = |x: &[u8], at: usize| {
        x.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map(u64::from_ne_bytes)
    };
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if (8..=16).contains(&len) {
        return word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8);
    }
    a == b
}

/// What a step starts from, and its slot: looked up once per event, for
/// [`Steps::take`] and then, on a miss, [`Steps::leave`].
pub(crate) struct StepKey<'a> {
    subscriber: u64,
    /// The tag of the cursor it starts from.
    from: u64,
    index: u8,
    position: &'a [u8],
    at: usize,
}

/// The slot of the step of topic `index` of a cursor on `checkpoint` to the
/// position whose id ends in `count` ([`Header::id_count`]): a base for the
/// checkpoint and topic plus that count, so that a topic's consecutive events
/// take consecutive slots. A position that ends in no digits only spreads
/// less well.
///
/// [`Header::id_count`]: crate::channel::header::Header::id_count
#[inline]
fn slot(slots: usize, checkpoint: u64, index: u8, count: u32) -> usize {
    let base = (checkpoint ^ u64::from(index)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    #[allow(clippy::cast_possible_truncation)]
    let at = base.wrapping_add(u64::from(count)) as usize;
    at & (slots - 1)
}

impl Steps {
    /// A table for subscriptions that may fall `behind` events behind.
    pub(crate) fn new(behind: usize) -> Self {
        Self {
            len: behind.clamp(MIN_SLOTS, MAX_SLOTS).next_power_of_two(),
            slots: OnceLock::new(),
            #[cfg(test)]
            taken: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn slots(&self) -> &[Mutex<Step>] {
        self.slots.get_or_init(|| {
            (0..self.len)
                .map(|_| {
                    Mutex::new(Step {
                        subscriber: 0,
                        from: 0,
                        to: Moved::default(),
                        index: 0,
                        position_len: 0,
                        raw_len: 0,
                        tail_len: 0,
                        cursor: (0, 0),
                        bytes: [0; MAX_POSITION + MAX_RAW + MAX_TAIL],
                        whole: None,
                    })
                })
                .collect()
        })
    }

    /// The step of `cursor` (of `subscriber`) when topic `index` moves to
    /// `position`, whose id ends in `count` ([`Header::id_count`]); `None`
    /// when the cursor moved since it was last written (its tag does not name
    /// it), so it neither takes nor leaves one.
    ///
    /// [`Header::id_count`]: crate::channel::header::Header::id_count
    #[inline]
    pub(crate) fn key<'a>(
        &self,
        subscriber: u64,
        cursor: &Cursor,
        (index, position, count): (u8, &'a [u8], u32),
    ) -> Option<StepKey<'a>> {
        Some(StepKey {
            subscriber,
            from: cursor.tag()?,
            index,
            position,
            at: slot(self.len, cursor.checkpoint(), index, count),
        })
    }

    /// Takes the step `key` names, if another subscription left it: moves
    /// `cursor` (the one `key` was made from) and appends `body` and the
    /// event's tail (its type line, `id: ` and the cursor, a blank line) to
    /// `out`; on a miss, writes nothing. Returns where the cursor is in the
    /// tail and its length.
    #[inline]
    pub(crate) fn take(
        &self,
        key: &StepKey<'_>,
        cursor: &mut Cursor,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Option<(usize, usize)> {
        let step = self.slots.get()?[key.at].try_lock().ok()?;
        if !step.starts(key) {
            return None;
        }
        let (raw, tail) = step.raw_and_tail()?;
        cursor.adopt(&step.to, raw);
        out.reserve(body.len() + tail.len());
        out.extend_from_slice(body);
        out.extend_from_slice(tail);
        #[cfg(test)]
        self.taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some((usize::from(step.cursor.0), usize::from(step.cursor.1)))
    }

    /// Takes the step `key` names, if another subscription left it, as the
    /// whole event (`body` then the step's tail) in shared bytes: made by
    /// the first subscription that takes it so, kept in the slot for the
    /// others. Moves `cursor` (the one `key` was made from) and returns the
    /// bytes and where the cursor is in the tail and its length. `None` (a
    /// miss, or an event over [`MAX_WHOLE`]) changes nothing: [`Steps::take`]
    /// may still find it.
    #[inline]
    pub(crate) fn take_whole(
        &self,
        key: &StepKey<'_>,
        cursor: &mut Cursor,
        body: &[u8],
    ) -> Option<(Bytes, (usize, usize))> {
        let mut step = self.slots.get()?[key.at].try_lock().ok()?;
        if !step.starts(key) {
            return None;
        }
        if step.whole.is_none() {
            let (_, tail) = step.raw_and_tail()?;
            let len = body.len() + tail.len();
            if len > MAX_WHOLE {
                return None;
            }
            let mut whole = BytesMut::with_capacity(len);
            whole.extend_from_slice(body);
            whole.extend_from_slice(tail);
            step.whole = Some(whole.freeze());
        }
        let whole = step.whole.clone()?;
        let (raw, _) = step.raw_and_tail()?;
        cursor.adopt(&step.to, raw);
        #[cfg(test)]
        self.taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some((
            whole,
            (usize::from(step.cursor.0), usize::from(step.cursor.1)),
        ))
    }

    /// Leaves the step `key` names, which `cursor` took (it computed it
    /// itself), with `tail` (the cursor's text at `at` in it), for the
    /// subscriptions that follow. The first step from an event is kept: a
    /// later one from another state would only take the slot from those who
    /// follow the first.
    pub(crate) fn leave(
        &self,
        key: &StepKey<'_>,
        cursor: &Cursor,
        tail: &[u8],
        at: (usize, usize),
    ) {
        let position = key.position;
        // Both at most 192, so are the cursor's place and length in the tail.
        if position.is_empty() || position.len() > MAX_POSITION || tail.len() > MAX_TAIL {
            return;
        }
        let Ok(mut step) = self.slots()[key.at].try_lock() else {
            return;
        };
        if step.index == key.index && step.bytes[..usize::from(step.position_len)] == *position {
            return;
        }
        let step = &mut *step;
        step.subscriber = key.subscriber;
        step.from = key.from;
        step.index = key.index;
        let (bytes, position_len) = (&mut step.bytes, position.len());
        bytes[..position_len].copy_from_slice(position);
        let raw_len = cursor.save(&mut step.to, &mut bytes[position_len..]);
        let tail_at = position_len + raw_len;
        bytes[tail_at..tail_at + tail.len()].copy_from_slice(tail);
        // Made by the first follower that sends it alone: a subscription
        // nobody follows allocates nothing more per event.
        step.whole = None;
        // Each fits: at most 38, 96 and 192.
        #[allow(clippy::cast_possible_truncation)]
        {
            step.position_len = position_len as u8;
            step.raw_len = raw_len as u8;
            step.tail_len = tail.len() as u8;
            step.cursor = (at.0 as u8, at.1 as u8);
        }
    }
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steps").field("slots", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use futures_util::{FutureExt, StreamExt};
    use proptest::prelude::*;

    use super::{slot, MAX_SLOTS, MIN_SLOTS};
    use crate::multi::{
        CursorKey, MemoryCheckpoints, MultiRequest, MultiSubscription, Multiplexer, Subscriber,
    };
    use crate::Hub;

    const TOPICS: [&str; 4] = ["t0", "t1", "t2", "t3"];
    const PRINCIPALS: [Option<&str>; 3] = [None, Some("ann"), Some("bob")];

    fn request(topics: &[&str], principal: Option<&str>, cursor: Option<&str>) -> MultiRequest {
        let subscriber = principal.map_or_else(Subscriber::anonymous, Subscriber::new);
        MultiRequest::new(topics.iter().copied())
            .subscriber(subscriber)
            .last_event_id(cursor)
    }

    /// Every event ready now, as sent.
    fn ready(stream: &mut MultiSubscription, max: usize) -> Vec<bytes::Bytes> {
        std::iter::from_fn(|| stream.next().now_or_never().flatten().map(|e| e.to_bytes()))
            .take(max)
            .collect()
    }

    /// Everything ready now, read in runs as a response body reads it (a
    /// lone event of a step left whole as its shared bytes).
    fn runs(stream: &mut MultiSubscription) -> bytes::Bytes {
        let mut all = bytes::BytesMut::new();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while !stream.is_idle(&cx) {
            let mut out = bytes::BytesMut::new();
            match stream.poll_run(&mut cx, &mut out, 512, true) {
                std::task::Poll::Ready(Some(_)) => {}
                _ => break,
            }
            match stream.take_first() {
                Some(whole) => {
                    assert!(out.is_empty());
                    all.extend_from_slice(&whole);
                }
                None => all.extend_from_slice(&out),
            }
        }
        all.freeze()
    }

    #[test]
    fn a_table_has_a_slot_per_event_of_the_hubs_buffer_and_is_taken_when_used() {
        let size = std::mem::size_of::<std::sync::Mutex<super::Step>>();
        assert!(size <= 470, "{size} bytes a slot");
        let steps = super::Steps::new(crate::HubConfig::DEFAULT_BUFFER);
        assert_eq!(steps.len, 256);
        assert!(steps.slots.get().is_none());
        assert_eq!(steps.slots().len(), 256);
        assert_eq!(super::Steps::new(0).len, MIN_SLOTS);
        assert_eq!(super::Steps::new(usize::MAX).len, MAX_SLOTS);
        assert_eq!(super::Steps::new(1000).len, 1024);
    }

    #[test]
    fn positions_are_the_same_only_when_every_byte_is() {
        let ids: Vec<Vec<u8>> = (0..=40)
            .flat_map(|len| {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let mut all = vec![base.clone()];
                for at in 0..len {
                    let mut edited = base.clone();
                    edited[at] ^= 1;
                    all.push(edited);
                }
                all
            })
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(super::same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    /// Two writers leave two different steps in one slot, over and over,
    /// while two readers take one of them: a reader gets that step whole
    /// (the same cursor, the same bytes) or a miss, never a mix of the two.
    #[test]
    fn a_step_is_taken_whole_or_not_at_all_while_others_write_its_slot() {
        use super::super::cursor::Cursor;
        use super::StepKey;
        const TAKES: usize = 200_000;
        let key = CursorKey::new([9; 16]);
        let mut from = Cursor::new(&key, 1, 77);
        from.write(&mut bytes::BytesMut::new());
        let tag = from.tag().unwrap();
        // Step `n` moves topic `n` to a position of its own, with a tail of
        // its own (every byte differs between the two).
        let step = |n: u8| {
            let mut cursor = from.clone();
            let suffix = [b'0' + n; 5];
            assert!(cursor.set(n, 0, &suffix));
            let mut tail = bytes::BytesMut::new();
            let line = format!("event: topic-{n}{}\n", "x".repeat(usize::from(n) * 9));
            let at = cursor.write_tail(Some(n), line.as_bytes(), &mut tail);
            (cursor, tail.freeze(), at)
        };
        let steps = super::Steps::new(MIN_SLOTS);
        let key_of = |n: u8, position: &'static [u8]| StepKey {
            subscriber: 1,
            from: tag,
            index: n,
            position,
            at: 5,
        };
        let (a, b) = (step(0), step(1));
        let positions: [&'static [u8]; 2] = [b"e.00000", b"e.11111"];
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for writer in 0..2 {
                let (steps, stop, a, b) = (&steps, &stop, &a, &b);
                scope.spawn(move || {
                    let mut n = writer;
                    while !stop.load(Ordering::Relaxed) {
                        let (cursor, tail, at) = if n % 2 == 0 { a } else { b };
                        let index = (n % 2) as u8;
                        steps.leave(&key_of(index, positions[n % 2]), cursor, tail, *at);
                        n += 1;
                        // Some room for a reader to find the step whole.
                        for _ in 0..64 {
                            std::hint::spin_loop();
                        }
                    }
                });
            }
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let (steps, a, from) = (&steps, &a, &from);
                    scope.spawn(move || {
                        let (want, tail, at) = a;
                        let mut want = want.clone();
                        let mut wanted = bytes::BytesMut::new();
                        want.write(&mut wanted);
                        let body = b"data: x\n";
                        let mut hits = 0;
                        for _ in 0..TAKES {
                            let mut cursor = from.clone();
                            let mut out = bytes::BytesMut::from(&b"before"[..]);
                            let Some(got) =
                                steps.take(&key_of(0, positions[0]), &mut cursor, body, &mut out)
                            else {
                                assert_eq!(&out[..], b"before", "a miss writes nothing");
                                continue;
                            };
                            hits += 1;
                            assert_eq!(got, *at);
                            assert_eq!(&out[6..6 + body.len()], body);
                            assert_eq!(&out[6 + body.len()..], &tail[..]);
                            assert_eq!(cursor.tag(), want.tag());
                            let mut text = bytes::BytesMut::new();
                            cursor.write(&mut text);
                            assert_eq!(text, wanted, "the cursor is the step's");
                        }
                        hits
                    })
                })
                .collect();
            let hits: Vec<_> = readers.into_iter().map(|r| r.join()).collect();
            // The writers stop before a reader's failure is raised.
            stop.store(true, Ordering::Relaxed);
            let hits: Vec<usize> = hits.into_iter().map(Result::unwrap).collect();
            assert!(hits.iter().sum::<usize>() > 0, "{hits:?}");
        });
    }

    #[test]
    fn a_topics_consecutive_events_take_consecutive_slots() {
        const SLOTS: usize = MAX_SLOTS;
        // The count the hub reads from each event's id.
        let count = |id: &str| {
            let event = crate::Event::new().try_id(id).unwrap().data("x").encode();
            crate::channel::header::scan(event.as_bytes()).id_count()
        };
        for (epoch, from) in [("k3j2h1.", 0_u64), ("k3j2h1.", 99_999_990), ("0.", 7)] {
            let first = slot(SLOTS, 42, 3, count(&format!("{epoch}{from}")));
            for n in 1..SLOTS as u64 {
                let at = slot(SLOTS, 42, 3, count(&format!("{epoch}{}", from + n)));
                assert_eq!(at, (first + n as usize) % SLOTS, "{epoch}{}", from + n);
            }
        }
        // A Redis id: its sequence, then its milliseconds.
        let at = |id: &str| slot(SLOTS, 1, 0, count(id));
        assert_eq!(
            at("e.1733050000456-1"),
            (at("e.1733050000456-0") + 1) % SLOTS
        );
        assert_eq!(
            at("e.1733050000457-0"),
            (at("e.1733050000456-0") + 1000) % SLOTS
        );
        // Anything else still lands somewhere.
        assert!(at("") < SLOTS && at("\u{ff}\u{fe}not digits at all") < SLOTS);
        assert!(slot(SLOTS, u64::MAX, 255, u32::MAX) < SLOTS);
    }

    /// Subscriptions in the same state send the same bytes, and all but the
    /// first take each step from the table.
    #[tokio::test]
    async fn subscriptions_in_the_same_state_share_their_steps() {
        let hub = Hub::new();
        let multi = Multiplexer::new(hub.clone());
        let topics: Vec<String> = (0..8).map(|i| format!("tile-{i}")).collect();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let mut streams = Vec::new();
        for _ in 0..3 {
            streams.push(multi.subscribe(request(&topics, None, None)).await.unwrap());
        }
        let primed: Vec<_> = streams.iter_mut().map(|s| ready(s, 10)).collect();
        assert_eq!(primed[0].len(), 1);
        assert!(
            primed.iter().all(|p| *p == primed[0]),
            "same checkpoint, same id"
        );
        let mut sent = vec![Vec::new(); 3];
        for n in 0..100 {
            hub.publish(topics[n * 7 % 8], format!("{n}"))
                .await
                .unwrap();
            for (stream, sent) in streams.iter_mut().zip(&mut sent) {
                let next = tokio::time::timeout(Duration::from_secs(5), stream.next());
                sent.push(next.await.unwrap().unwrap().to_bytes());
            }
        }
        assert_eq!(sent[0].len(), 100);
        assert!(sent.iter().all(|s| *s == sent[0]));
        // The first takes each step, the two others copy it.
        assert_eq!(multi.steps.taken.load(Ordering::Relaxed), 200);

        // A cursor so written resumes exactly, here and on a multiplexer that
        // never saw the steps (same key and checkpoints).
        let last = String::from_utf8(sent[2][49].to_vec()).unwrap();
        let cursor = last.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
        for multi in [multi.clone(), multi.clone().key(multi.key.clone())] {
            let mut resumed = multi
                .subscribe(request(&topics, None, Some(cursor)))
                .await
                .unwrap();
            let got = ready(&mut resumed, 1000);
            assert_eq!(got.len(), 1 + 50, "priming, then the 50 after the cursor");
            // In order per topic; topics interleave as their histories are read.
            let mut data: Vec<u32> = got[1..]
                .iter()
                .map(|e| {
                    crate::parse::parse_events(e).unwrap()[0]
                        .data
                        .parse()
                        .unwrap()
                })
                .collect();
            for tile in 0..8 {
                let of_tile: Vec<_> = data.iter().filter(|n| (*n * 7) % 8 == tile).collect();
                assert!(of_tile.is_sorted(), "tile {tile}: {of_tile:?}");
            }
            data.sort_unstable();
            assert_eq!(data, (50..100).collect::<Vec<_>>());
        }
    }

    /// Followers that fall behind the hub between runs get the same lag
    /// gap, and then the same events, as a subscription that shares nothing.
    #[tokio::test]
    async fn followers_that_lag_behind_get_the_gap_and_then_the_same_events() {
        let hub = crate::HubConfig::new()
            .buffer(8)
            .slow_consumer(crate::SlowConsumer::SkipWithGap)
            .build();
        let key = CursorKey::new([5; 16]);
        let store = MemoryCheckpoints::new();
        let multi = Multiplexer::new(hub.clone())
            .key(key.clone())
            .checkpoints(store.clone());
        let alone = Multiplexer::new(hub.clone()).key(key).checkpoints(store);
        let mut shared: Vec<_> = Vec::new();
        for _ in 0..3 {
            shared.push(multi.subscribe(request(&TOPICS, None, None)).await.unwrap());
        }
        let mut twin = alone.subscribe(request(&TOPICS, None, None)).await.unwrap();
        let priming = ready(&mut twin, 1).concat();
        for stream in &mut shared {
            assert_eq!(runs(stream), priming, "the same priming event");
        }
        for round in 0..4 {
            // Within the buffer, then (from the second round on) past it.
            for n in 0..(4 + 8 * round) {
                hub.publish("t1", format!("{round}.{n}")).await.unwrap();
            }
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            let sent = ready(&mut twin, usize::MAX).concat();
            for stream in &mut shared {
                assert_eq!(runs(stream), sent, "round {round}");
            }
            let text = String::from_utf8(sent).unwrap();
            assert_eq!(text.contains("\"reason\":\"lagged\""), round > 0, "{text}");
        }
        // The two followers took their steps (the lag gaps are their own).
        assert!(multi.steps.taken.load(Ordering::Relaxed) >= 2 * (4 + 8 + 8 + 8));
    }

    /// Followers read in runs while another thread publishes faster than
    /// they keep up, so the hub's ring also laps them in the middle of a run
    /// (where they read straight from it): every event they miss is
    /// announced by a `lagged` gap first, and none comes twice or out of
    /// order.
    #[test]
    fn followers_lapped_in_a_run_announce_every_event_they_miss() {
        const EVENTS: u64 = 50_000;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hub = crate::HubConfig::new()
            .buffer(16)
            .slow_consumer(crate::SlowConsumer::SkipWithGap)
            .build();
        let multi = Multiplexer::new(hub.clone());
        let mut streams: Vec<_> = (0..3)
            .map(|_| runtime.block_on(multi.subscribe(request(&TOPICS, None, None))))
            .collect::<Result<_, _>>()
            .unwrap();
        let publisher = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for n in 0..EVENTS {
                runtime.block_on(hub.publish("t2", n.to_string())).unwrap();
            }
        });
        let mut sent = vec![Vec::new(); streams.len()];
        while !publisher.is_finished() {
            for (stream, sent) in streams.iter_mut().zip(&mut sent) {
                sent.extend_from_slice(&runs(stream));
            }
        }
        publisher.join().unwrap();
        for (stream, sent) in streams.iter_mut().zip(&mut sent) {
            sent.extend_from_slice(&runs(stream));
        }
        for sent in sent {
            let (mut next, mut gaps) = (0_u64, 0);
            for event in crate::parse::parse_events(&sent).unwrap() {
                match event.event_type.as_str() {
                    "t2" => {
                        let n: u64 = event.data.parse().unwrap();
                        assert!(n == next || (gaps > 0 && n > next), "{n} after {next}");
                        (next, gaps) = (n + 1, 0);
                    }
                    "sse-gap" => {
                        assert!(
                            event.data.contains("\"reason\":\"lagged\""),
                            "{}",
                            event.data
                        );
                        gaps += 1;
                    }
                    other => panic!("unexpected event type {other:?}"),
                }
            }
            assert_eq!(next, EVENTS, "the last event arrives");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Publish to a topic, for everyone or for one principal only.
        Publish {
            topic: usize,
            to: Option<usize>,
        },
        /// `copies` subscriptions of a principal to some topics, resumed
        /// from the last cursor of subscription `from` when there is one.
        Join {
            topics: u8,
            principal: usize,
            from: Option<usize>,
            copies: usize,
        },
        Read {
            subscription: usize,
            max: usize,
        },
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            6 => (0..4_usize, proptest::option::weighted(0.3, 1..3_usize))
                .prop_map(|(topic, to)| Op::Publish { topic, to }),
            1 => (1..16_u8, 0..3_usize, proptest::option::of(0..8_usize), 1..4_usize)
                .prop_map(|(topics, principal, from, copies)| Op::Join { topics, principal, from, copies }),
            3 => (0..12_usize, 1..10_usize).prop_map(|(subscription, max)| Op::Read { subscription, max }),
        ];
        proptest::collection::vec(op, 1..100)
    }

    /// One subscription of the shared multiplexer and its twin on a
    /// multiplexer of its own (same key, same checkpoints, no shared steps).
    struct Pair {
        shared: MultiSubscription,
        alone: MultiSubscription,
        cursor: Option<String>,
    }

    impl Pair {
        /// Reads up to `max` events of each; an even `max` reads the shared
        /// one in runs (as a response body does, where followers take their
        /// steps straight from the topic's hub subscription), all it has.
        async fn read(&mut self, max: usize) -> Result<(), TestCaseError> {
            // Let the hub's publishes reach the topic streams.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            let (alone, shared) = if max % 2 == 0 {
                let alone = ready(&mut self.alone, usize::MAX);
                (vec![alone.concat().into()], vec![runs(&mut self.shared)])
            } else {
                (ready(&mut self.alone, max), ready(&mut self.shared, max))
            };
            prop_assert_eq!(
                &shared,
                &alone,
                "a shared step sent what the subscription would not"
            );
            // The last event read (a run holds several).
            let text = String::from_utf8(shared.concat()).unwrap();
            if let Some(last) = text.split_inclusive("\n\n").last() {
                self.cursor = last
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .map(str::to_owned);
            }
            Ok(())
        }
    }

    async fn scenario(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let hub = Hub::new();
        let key = CursorKey::new([3; 16]);
        let store = MemoryCheckpoints::new();
        let multi = Multiplexer::new(hub.clone())
            .key(key.clone())
            .checkpoints(store.clone());
        let mut pairs: Vec<Pair> = Vec::new();
        for op in ops {
            match op {
                Op::Publish { topic, to } => {
                    let event = match to {
                        Some(p) => multi.private("x", PRINCIPALS[p]).unwrap(),
                        None => crate::Event::new().data("x"),
                    };
                    hub.publish(TOPICS[topic], event).await.unwrap();
                }
                Op::Join {
                    topics,
                    principal,
                    from,
                    copies,
                } => {
                    let names: Vec<&str> = (0..4)
                        .filter(|i| topics & (1 << i) != 0)
                        .map(|i| TOPICS[i])
                        .collect();
                    let cursor = from
                        .and_then(|f| pairs.get(f))
                        .and_then(|p| p.cursor.clone());
                    let principal = PRINCIPALS[principal];
                    for _ in 0..copies {
                        let alone = Multiplexer::new(hub.clone())
                            .key(key.clone())
                            .checkpoints(store.clone());
                        let request = || request(&names, principal, cursor.as_deref());
                        let shared = multi.subscribe(request()).await.unwrap();
                        let alone = alone.subscribe(request()).await.unwrap();
                        pairs.push(Pair {
                            shared,
                            alone,
                            cursor: None,
                        });
                    }
                }
                Op::Read { subscription, max } => {
                    if let Some(pair) = pairs.get_mut(subscription) {
                        pair.read(max).await?;
                    }
                }
            }
        }
        for pair in &mut pairs {
            pair.read(usize::MAX).await?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the subscriptions (topics, principals, resumes) and the
        /// events (private ones included), a subscription sends exactly what
        /// it sends when it shares no steps.
        #[test]
        fn a_shared_step_is_the_step_the_subscription_would_take(ops in ops()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(scenario(ops))?;
        }
    }
}
