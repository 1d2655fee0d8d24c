//! Fan-out channels: a [`Hub`] of topics with `Last-Event-ID` replay,
//! encode-once broadcast and an explicit slow-consumer policy.
//!
//! # Guarantees
//!
//! - **Encode once.** [`Hub::publish`] converts and encodes an event once; every
//!   subscriber receives a clone of the same [`EncodedEvent`](crate::EncodedEvent)
//!   (one reference-count bump), which [`EventStream`](crate::EventStream) sends
//!   without copying.
//! - **Ids.** Events without an id get the next number of a hub-wide counter,
//!   so ids increase within each topic and stay unique when a reclaimed topic is
//!   used again. App-supplied ids are kept; next to each stored event the hub
//!   keeps its position, which is what ordering and de-duplication use.
//! - **Replay without loss or duplicates.** [`Hub::subscribe_from`] takes the
//!   live receiver *first*, then reads the history after `Last-Event-ID`, and the
//!   [`Subscription`] drops live events at or before the last replayed position.
//!   Publishing stores an event in the history *before* delivering it. Together
//!   these make every event appear exactly once at the seam, whatever
//!   publishers do meanwhile.
//! - **Gaps are announced.** If the id is older than the history or unknown, the
//!   subscription starts with a [`GAP_EVENT_TYPE`] event; a subscriber skipped
//!   under [`SlowConsumer::SkipWithGap`] gets one mid-stream. Never a silent skip.
//! - **Bounded memory.** Each topic has one broadcast ring of
//!   [`HubConfig::buffer`] events shared by all its subscribers, plus the
//!   history. A subscriber that never reads costs its receiver and nothing
//!   more; when it falls a full buffer behind, [`SlowConsumer`] decides: end
//!   its stream (default; the browser reconnects and replays from history) or
//!   skip with a gap event.
//! - **Release.** Dropping a [`Subscription`] (hyper drops the body when the
//!   client goes away) unsubscribes at once; a topic with neither subscribers
//!   nor history is removed. [`Hub::subscribers`] and [`Hub::topics`] show it.
//! - **Shutdown.** [`Hub::close`] ends every stream cleanly, so servers that wait
//!   for open bodies can finish.
//!
//! # Why one shared ring per topic
//!
//! A per-subscriber queue costs one push (and a lock) per subscriber per event
//! on the publisher's side, and a stuck subscriber pins up to a full queue of
//! its own. A single `tokio::sync::broadcast` ring per topic costs the publisher
//! one slot write and one wake-up pass, each subscriber clones the event when
//! it reads it, and stuck subscribers pin nothing beyond the ring: memory is
//! bounded by `buffer` per topic whatever the number of subscribers. Falling
//! behind is detected exactly (`Lagged`) and mapped to the policy. A
//! subscription reads ready events without allocating and reuses one boxed
//! future for waiting.
//!
//! # The seam for other backends
//!
//! The module is split in two halves so that a shared backend (e.g. Redis
//! streams) can replace the source of events without touching delivery:
//!
//! - *Local fan-out* (`fanout.rs`, `subscription.rs`): `Fanout::deliver(seq,
//!   encoded)` hands an already-encoded event with its position to all local
//!   subscribers; bounded ring, slow-consumer policy, lag gap events and
//!   de-duplication live here. A `Subscription` is built from a live receiver
//!   and a `Replay` (events to send first, and the position they cover).
//! - *Source and history* (`topic.rs`, `history.rs`): the in-memory source
//!   assigns the position and id, encodes, pushes to the ring, then calls
//!   `deliver`; for a resume it answers `Replay` from its ring. A Redis source
//!   would `XADD` on publish, run a reader task that calls `deliver` for each
//!   entry (mapping the stream id to a position), and answer `Replay` with
//!   `XRANGE`; the subscribe-first order and the position de-duplication stay
//!   the same.
//! - *Redis source* (`redis_source.rs`, feature `redis`): exactly that. Stream
//!   ids map to positions as `(ms << 64) | seq` (hence 128-bit positions), a
//!   topic's reader runs while it has local subscribers, and the replay is
//!   read on a subscription's first poll, after the reader has found where it
//!   starts, so the replay always reaches the start of live delivery.

mod config;
mod fanout;
mod gap;
mod history;
mod hub;
mod inspect;
mod publish;
#[cfg(feature = "redis")]
mod redis_source;
mod subscription;
mod topic;

pub use config::{HubConfig, SlowConsumer};
pub use gap::GAP_EVENT_TYPE;
pub use hub::Hub;
pub use subscription::Subscription;
