//! Storage engines for a [`Hub`](crate::Hub): the one seam between the hub's
//! delivery (encode-once fan-out, replay seam, gap events, slow consumers)
//! and where events are stored.
//!
//! An [`Engine`] stores the events of named topics. It assigns each event
//! its [`Position`] (an [`Epoch`] naming the history plus an [`Offset`]
//! ordering it), answers bounded [`Page`]s of stored events after an offset,
//! and hands every stored event, in order, to a [`Sink`] while the hub
//! follows a topic. Everything a subscriber sees is decided by the hub, the
//! same for every engine:
//!
//! - **Subscribe first, then read.** A resuming subscription takes its live
//!   receiver (the topic is followed), then reads pages after its
//!   `Last-Event-ID`, and drops live events at or before the last replayed
//!   offset: nothing lost or repeated at the seam.
//! - **Epoch rules.** An id is `<epoch>.<offset>` (see [`Position`] for the
//!   format). Same epoch: exact replay. Another epoch: the history it named is
//!   gone: a [gap event](crate::GAP_EVENT_TYPE) with data `reset`, then live
//!   events. An offset the epoch never issued, an offset older than the
//!   history keeps, or an id that is neither a position nor an app id the
//!   engine [locates](Engine::locate): a gap event with data `unknown-id`.
//! - **Slow consumers, encode once, bounded rings**: in the hub.
//!
//! Two engines ship: [`MemoryEngine`] (the default) and, with the `redis`
//! feature, [`RedisEngine`](crate::redis::RedisEngine). A user's own engine
//! plugs in with [`HubConfig::engine`](crate::HubConfig::engine).
//!
//! # Contract
//!
//! - [`Engine::append`] stores the event and assigns it an offset greater than
//!   every offset stored before it in the same epoch. With an idempotency key
//!   seen within the engine's window it stores nothing and answers the
//!   original [`Appended`] marked [duplicate](Appended::duplicate).
//! - [`Engine::read`] answers at most `limit` records after `after`, oldest
//!   first; never an unbounded read.
//! - [`Engine::follow`] makes the engine call [`Sink::deliver`] for every
//!   event stored on the topic from then on, in offset order, until the
//!   returned [`Follow`] is dropped. An append made through this engine after
//!   `follow` returned is delivered; a read made after `follow` returned
//!   reaches at least the offset deliveries start from (so the replay and
//!   the live feed leave no hole). The in-memory engine delivers inside
//!   `append`, under its topic lock, after storing: "stored before delivered".
//! - Events are encoded with [`Record::encode`] (or
//!   [`Record::encode_keeping_id`]) exactly once per event per process.
//!
//! The crate's contract test suite (`tests/engine_contract/`) runs every
//! shipped engine through the same tests; run it on yours.
//!
//! # A toy engine
//!
//! ```
//! use std::sync::Mutex;
//! use tower_sse::engine::{
//!     Append, Appended, BoxFuture, Engine, Epoch, Follow, Offset, Page, Position, Record, Sink,
//! };
//! use tower_sse::Error;
//!
//! /// One global list, every topic shares it (a toy).
//! #[derive(Debug)]
//! struct Toy {
//!     epoch: Epoch,
//!     state: Mutex<(Vec<Record>, Vec<Sink>)>,
//! }
//!
//! impl Engine for Toy {
//!     fn append<'a>(&'a self, _topic: &'a str, append: Append) -> BoxFuture<'a, Result<Appended, Error>> {
//!         let (event, _key) = append.into_parts();
//!         let mut state = self.state.lock().unwrap();
//!         let offset = Offset::from(state.0.len() as u64 + 1);
//!         let position = Position::new(self.epoch, offset);
//!         let record = Record::encode(position, event);
//!         state.0.push(record.clone());
//!         // Stored before delivered, under the same lock.
//!         state.1.retain(|sink| sink.deliver(&record).is_continue());
//!         let appended = Appended::new(position, record.id().clone());
//!         Box::pin(async move { Ok(appended) })
//!     }
//!
//!     fn read<'a>(&'a self, _topic: &'a str, after: Offset, limit: usize) -> BoxFuture<'a, Result<Page, Error>> {
//!         let state = self.state.lock().unwrap();
//!         let records = state.0.iter().filter(|r| r.offset() > after).take(limit).cloned().collect();
//!         let head = state.0.last().map_or(Offset::ZERO, Record::offset);
//!         let page = Page::new(self.epoch, records).with_head(head);
//!         Box::pin(async move { Ok(page) })
//!     }
//!
//!     fn follow(&self, _topic: &str, sink: Sink) -> Result<Follow, Error> {
//!         self.state.lock().unwrap().1.push(sink);
//!         // A real engine unregisters the sink when the handle drops; the
//!         // toy relies on `Sink::deliver` answering `Break` instead.
//!         Ok(Follow::new(()))
//!     }
//!
//!     fn epoch<'a>(&'a self, _topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>> {
//!         Box::pin(async move { Ok(self.epoch) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
//! use futures_util::StreamExt;
//!
//! let toy = Toy { epoch: Epoch::new("toy")?, state: Mutex::default() };
//! let hub = tower_sse::HubConfig::new().engine(toy).build();
//! let first = hub.publish("t", "a").await?;
//! assert_eq!(first, "toy.1");
//! let mut sub = hub.subscribe_from("t", Some("toy.0"))?;
//! hub.publish("t", "b").await?;
//! assert_eq!(sub.next().await.unwrap().as_bytes(), &b"id: toy.1\ndata: a\n\n"[..]);
//! assert_eq!(sub.next().await.unwrap().as_bytes(), &b"id: toy.2\ndata: b\n\n"[..]);
//!
//! // An id of another history: a gap event that says so, then live events.
//! let mut sub = hub.subscribe_from("t", Some("old.5"))?;
//! assert_eq!(
//!     sub.next().await.unwrap().as_bytes(),
//!     &b"event: sse-gap\nid: toy.2\ndata: reset\n\n"[..],
//! );
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;

mod memory;
mod position;
mod record;
mod sink;

pub(crate) use sink::Deliver;

pub use memory::MemoryEngine;
pub use position::{Epoch, Offset, Position};
pub use record::{Append, Appended, IdempotencyKey, Page, Record};
pub use sink::{Follow, Sink};

/// A boxed, sendable future: what [`Engine`] methods return, so that the hub
/// can hold any engine as `Arc<dyn Engine>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage engine for a [`Hub`](crate::Hub): append with id assignment,
/// bounded paged reads, live following, epochs. See the [module docs](self)
/// for the contract and a complete toy engine.
///
/// The trait is object safe; the hub holds an `Arc<dyn Engine>` and names no
/// engine.
pub trait Engine: Send + Sync + std::fmt::Debug + 'static {
    /// Stores the event of `append` on `topic` and answers its position and
    /// id (an engine that keeps app-supplied ids answers those). With an
    /// idempotency key already stored within the engine's window, stores
    /// nothing and answers the first append's result as a duplicate.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the storage
    /// fails (the event may or may not be stored: retry with the same key),
    /// [`ErrorKind::TooManyTopics`](crate::ErrorKind::TooManyTopics) when a
    /// new topic would pass the engine's bound.
    fn append<'a>(
        &'a self,
        topic: &'a str,
        append: Append,
    ) -> BoxFuture<'a, Result<Appended, Error>>;

    /// At most `limit` records of `topic` with an offset after `after`,
    /// oldest first, with the topic's epoch, head and floor (see [`Page`]).
    /// A topic without history answers an empty page of its current epoch.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the storage fails.
    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: Offset,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, Error>>;

    /// Starts handing every event stored on `topic` from now on to `sink`,
    /// in offset order, until the returned handle is dropped. Must not block.
    ///
    /// # Errors
    ///
    /// When the engine cannot follow the topic (for example, no async runtime
    /// to run a reader on, or too many topics).
    fn follow(&self, topic: &str, sink: Sink) -> Result<Follow, Error>;

    /// The epoch of `topic`'s current history (minting one if the topic has
    /// none yet).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the storage fails.
    fn epoch<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>>;

    /// The offset of the stored event whose app-supplied id is `id`, for
    /// engines that keep app ids (the newest such event); `None` otherwise.
    /// The default finds none.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the storage fails.
    fn locate<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Offset>, Error>> {
        let _ = (topic, id);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Drops what the engine keeps of `topic` in this process, if anything
    /// ([`Hub::close_topic`](crate::Hub::close_topic)); its next event starts
    /// a new epoch. Shared storage is left alone. The default does nothing.
    fn forget(&self, topic: &str) {
        let _ = topic;
    }
}

impl<E> Engine for Arc<E>
where
    E: Engine + ?Sized,
{
    fn append<'a>(
        &'a self,
        topic: &'a str,
        append: Append,
    ) -> BoxFuture<'a, Result<Appended, Error>> {
        (**self).append(topic, append)
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: Offset,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, Error>> {
        (**self).read(topic, after, limit)
    }

    fn follow(&self, topic: &str, sink: Sink) -> Result<Follow, Error> {
        (**self).follow(topic, sink)
    }

    fn epoch<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>> {
        (**self).epoch(topic)
    }

    fn locate<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Offset>, Error>> {
        (**self).locate(topic, id)
    }

    fn forget(&self, topic: &str) {
        (**self).forget(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_object_safe() {
        fn holds(_: Option<Arc<dyn Engine>>) {}
        holds(None);
    }
}
