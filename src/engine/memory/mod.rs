//! [`MemoryEngine`]: topics kept in this process, the default engine of a
//! [`Hub`](crate::Hub).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{
    Append, Appended, BoxFuture, Engine, Epoch, Follow, Offset, Page, Position, Sink,
};
use crate::error::{Error, ErrorKind};
use crate::event::Event;

mod history;
mod idempotency;
mod topic;

use history::History;
use idempotency::Keys;
use topic::MemoryTopic;

/// Full topic maps are swept for idle topics at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The in-memory engine: what [`Hub::new`](crate::Hub::new) uses,
/// configured from the [`HubConfig`](crate::HubConfig).
///
/// - **Ids.** Every topic gets a fresh random [`Epoch`] when it is created in
///   this process and counts offsets `1`, `2`, … in it, so its ids read
///   `k3x9q2ab.1`, `k3x9q2ab.2`, …; a restart (or a topic that expired and
///   came back) has a new epoch, and an id of the old one is answered with a
///   `reset` gap. An event that carries a non-empty id of its own keeps it
///   (resuming after it finds it in the history by comparing ids, newest
///   first, via [`Engine::locate`]).
/// - **History.** A ring of the newest [`MemoryEngine::history`] events per
///   topic (optionally also dropped after [`MemoryEngine::max_age`]),
///   allocated as it fills.
/// - **Bounded topics.** At most [`MemoryEngine::max_topics`] topics; a topic
///   nobody follows and nobody published to for [`MemoryEngine::idle_timeout`]
///   is dropped with its history (checked when topics are created, at most
///   once a second, and by [`MemoryEngine::reclaim`]). Past the bound, an
///   append or follow of a *new* topic fails with
///   [`ErrorKind::TooManyTopics`]; existing topics keep working.
/// - **Idempotency.** A key is remembered for
///   [`MemoryEngine::idempotency_window`], at most
///   [`MemoryEngine::idempotency_keys`] of them (oldest forgotten first).
/// - **Live.** Appending delivers to the followers' sinks under the topic lock,
///   after storing.
///
/// Build one yourself to share it or to inspect it:
///
/// ```
/// use std::sync::Arc;
/// use tower_sse::{engine::MemoryEngine, HubConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
/// let engine = Arc::new(MemoryEngine::new().history(2).max_topics(10));
/// let hub = HubConfig::new().engine(Arc::clone(&engine)).build();
/// for word in ["a", "b", "c"] {
///     hub.publish("t", word).await?;
/// }
/// assert_eq!(engine.history_len("t"), 2);
/// assert_eq!(engine.topics(), ["t"]);
/// # Ok(()) }
/// ```
#[must_use]
pub struct MemoryEngine {
    history: usize,
    max_age: Option<Duration>,
    max_topics: usize,
    idle_timeout: Duration,
    topics: Mutex<Topics>,
    keys: Mutex<Keys>,
    next_token: AtomicU64,
}

#[derive(Debug)]
struct Topics {
    map: HashMap<Arc<str>, Arc<MemoryTopic>>,
    last_sweep: Option<Instant>,
}

impl MemoryEngine {
    /// The default [`MemoryEngine::history`]: 1024 events per topic.
    pub const DEFAULT_HISTORY: usize = 1024;
    /// The default [`MemoryEngine::max_topics`]: 100,000.
    pub const DEFAULT_MAX_TOPICS: usize = 100_000;
    /// The default [`MemoryEngine::idle_timeout`]: 15 minutes.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    /// The default [`MemoryEngine::idempotency_window`]: 5 minutes.
    pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(5 * 60);
    /// The default [`MemoryEngine::idempotency_keys`]: 100,000.
    pub const DEFAULT_IDEMPOTENCY_KEYS: usize = 100_000;

    /// An engine with the defaults.
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new();
    /// assert!(engine.topics().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            history: Self::DEFAULT_HISTORY,
            max_age: None,
            max_topics: Self::DEFAULT_MAX_TOPICS,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            topics: Mutex::new(Topics {
                map: HashMap::new(),
                last_sweep: None,
            }),
            keys: Mutex::new(Keys::new(
                Self::DEFAULT_IDEMPOTENCY_WINDOW,
                Self::DEFAULT_IDEMPOTENCY_KEYS,
            )),
            next_token: AtomicU64::new(0),
        }
    }

    /// How many recent events each topic keeps (`0`: none).
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().history(16);
    /// ```
    pub fn history(mut self, events: usize) -> Self {
        self.history = events;
        self
    }

    /// Also drops events older than `age` (any duration; `Duration::MAX` is fine).
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().max_age(std::time::Duration::MAX);
    /// ```
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The most topics kept at once (at least 1).
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().max_topics(0);
    /// ```
    pub fn max_topics(mut self, topics: usize) -> Self {
        self.max_topics = topics.max(1);
        self
    }

    /// How long a topic nobody follows or publishes to is kept.
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().idle_timeout(std::time::Duration::from_secs(60));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long an idempotency key is remembered.
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().idempotency_window(std::time::Duration::from_secs(60));
    /// ```
    pub fn idempotency_window(self, window: Duration) -> Self {
        let cap = self.keys_lock().cap();
        self.with_keys(window, cap)
    }

    /// The most idempotency keys remembered at once (`0`: none).
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().idempotency_keys(1000);
    /// ```
    pub fn idempotency_keys(self, keys: usize) -> Self {
        let window = self.keys_lock().window();
        self.with_keys(window, keys)
    }

    fn with_keys(mut self, window: Duration, cap: usize) -> Self {
        self.keys = Mutex::new(Keys::new(window, cap));
        self
    }

    fn keys_lock(&self) -> MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn topics_lock(&self) -> MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The names of the topics kept, sorted.
    ///
    /// ```
    /// assert!(tower_sse::engine::MemoryEngine::new().topics().is_empty());
    /// ```
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .topics_lock()
            .map
            .keys()
            .map(|k| k.to_string())
            .collect();
        names.sort_unstable();
        names
    }

    /// How many events the history of `topic` holds.
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::MemoryEngine::new().history_len("t"), 0);
    /// ```
    #[must_use]
    pub fn history_len(&self, topic: &str) -> usize {
        let found = self.topics_lock().map.get(topic).cloned();
        found.map_or(0, |t| {
            let mut state = t.state();
            state.history.prune(Instant::now());
            state.history.len()
        })
    }

    /// How many idempotency keys are remembered right now.
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::MemoryEngine::new().idempotency_keys_len(), 0);
    /// ```
    #[must_use]
    pub fn idempotency_keys_len(&self) -> usize {
        self.keys_lock().len()
    }

    /// Drops the topics that are idle now (nobody follows them and nobody
    /// published for the idle timeout). The engine also does this as it goes.
    ///
    /// ```
    /// let engine = tower_sse::engine::MemoryEngine::new().idle_timeout(std::time::Duration::ZERO);
    /// engine.reclaim();
    /// ```
    pub fn reclaim(&self) {
        let mut topics = self.topics_lock();
        self.sweep(&mut topics, Instant::now());
    }

    fn sweep(&self, topics: &mut Topics, now: Instant) {
        topics.last_sweep = Some(now);
        topics.map.retain(|_, topic| {
            let mut state = topic.state();
            if state.is_idle(now, self.idle_timeout) {
                state.removed = true;
                false
            } else {
                true
            }
        });
    }

    /// The topic under `name`, created if needed and allowed.
    fn topic(&self, name: &str, now: Instant) -> Result<(Arc<str>, Arc<MemoryTopic>), Error> {
        let mut topics = self.topics_lock();
        if let Some((key, topic)) = topics.map.get_key_value(name) {
            return Ok((Arc::clone(key), Arc::clone(topic)));
        }
        let due = topics.last_sweep.map_or(true, |at| {
            now.saturating_duration_since(at) >= SWEEP_INTERVAL
        });
        if due {
            self.sweep(&mut topics, now);
        }
        if topics.map.len() >= self.max_topics {
            return Err(Error::new(ErrorKind::TooManyTopics));
        }
        let key = Arc::<str>::from(name);
        let topic = Arc::new(MemoryTopic::new(
            History::new(self.history, self.max_age),
            now,
        ));
        topics.map.insert(Arc::clone(&key), Arc::clone(&topic));
        Ok((key, topic))
    }

    fn append_now(
        &self,
        name: &str,
        event: Event,
        now: Instant,
    ) -> Result<(Arc<str>, Appended), Error> {
        loop {
            let (key, topic) = self.topic(name, now)?;
            let mut state = topic.state();
            if state.removed {
                continue;
            }
            let record = state.append(event, now);
            let position = Position::new(state.epoch, record.offset());
            return Ok((key, Appended::new(position, record.id().clone())));
        }
    }

    fn append_sync(&self, name: &str, append: Append) -> Result<Appended, Error> {
        let now = Instant::now();
        let (event, key) = append.into_parts();
        let Some(key) = key else {
            return self
                .append_now(name, event, now)
                .map(|(_, appended)| appended);
        };
        // Check, append and remember under one lock: concurrent retries with
        // the same key store the event once.
        let mut keys = self.keys_lock();
        if let Some(first) = keys.get(name, &key, now) {
            return Ok(first.duplicate());
        }
        let (topic, appended) = self.append_now(name, event, now)?;
        keys.insert(topic, key, appended.clone(), now);
        Ok(appended)
    }

    fn existing(&self, name: &str) -> Option<Arc<MemoryTopic>> {
        self.topics_lock().map.get(name).cloned()
    }
}

impl Default for MemoryEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEngine")
            .field("history", &self.history)
            .field("max_age", &self.max_age)
            .field("max_topics", &self.max_topics)
            .field("idle_timeout", &self.idle_timeout)
            .field("topics", &self.topics_lock().map.len())
            .finish_non_exhaustive()
    }
}

/// Unregisters a sink when the hub stops following.
struct Following {
    topic: Weak<MemoryTopic>,
    token: u64,
}

impl Drop for Following {
    fn drop(&mut self) {
        if let Some(topic) = self.topic.upgrade() {
            let mut state = topic.state();
            state.sinks.retain(|(token, _)| *token != self.token);
            state.last_used = Instant::now();
        }
    }
}

impl Engine for MemoryEngine {
    fn append<'a>(
        &'a self,
        topic: &'a str,
        append: Append,
    ) -> BoxFuture<'a, Result<Appended, Error>> {
        Box::pin(std::future::ready(self.append_sync(topic, append)))
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: Offset,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, Error>> {
        let page = match self.existing(topic) {
            Some(topic) => topic.state().read(after, limit, Instant::now()),
            // Reads never create topics: an empty page of a history that
            // does not exist (yet).
            None => Page::new(Epoch::mint(), Vec::new()),
        };
        Box::pin(std::future::ready(Ok(page)))
    }

    fn follow(&self, topic: &str, sink: Sink) -> Result<Follow, Error> {
        let now = Instant::now();
        loop {
            let (_, found) = self.topic(topic, now)?;
            let mut state = found.state();
            if state.removed {
                continue;
            }
            let token = self.next_token.fetch_add(1, Ordering::Relaxed);
            state.sinks.push((token, sink));
            drop(state);
            return Ok(Follow::new(Following {
                topic: Arc::downgrade(&found),
                token,
            }));
        }
    }

    fn epoch<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>> {
        let epoch = self
            .topic(topic, Instant::now())
            .map(|(_, topic)| topic.state().epoch);
        Box::pin(std::future::ready(epoch))
    }

    fn locate<'a>(
        &'a self,
        topic: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Offset>, Error>> {
        let found = self
            .existing(topic)
            .and_then(|topic| topic.state().history.locate(id));
        Box::pin(std::future::ready(Ok(found)))
    }

    fn forget(&self, topic: &str) {
        let removed = self.topics_lock().map.remove(topic);
        if let Some(topic) = removed {
            let mut state = topic.state();
            state.removed = true;
            state.sinks.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::IdempotencyKey;

    fn block<T>(future: BoxFuture<'_, T>) -> T {
        futures_util::FutureExt::now_or_never(future).expect("the memory engine never waits")
    }

    #[test]
    fn ids_carry_the_topic_epoch_and_count_from_one() {
        let engine = MemoryEngine::new();
        let a = block(engine.append("t", Append::new(Event::new().data("a")))).unwrap();
        let b = block(engine.append("t", Append::new(Event::new().data("b")))).unwrap();
        let epoch = block(engine.epoch("t")).unwrap();
        assert_eq!(a.id().as_str(), format!("{epoch}.1"));
        assert_eq!(b.id().as_str(), format!("{epoch}.2"));
        let other = block(engine.epoch("u")).unwrap();
        assert_ne!(epoch, other, "every topic history has its own epoch");
    }

    #[test]
    fn a_retry_with_the_same_key_returns_the_first_id_and_stores_nothing() {
        let engine = MemoryEngine::new();
        let key = IdempotencyKey::new("k").unwrap();
        let append = || Append::new(Event::new().data("x")).idempotency_key(key.clone());
        let first = block(engine.append("t", append())).unwrap();
        let retry = block(engine.append("t", append())).unwrap();
        assert!(!first.is_duplicate());
        assert!(retry.is_duplicate());
        assert_eq!(retry.id(), first.id());
        assert_eq!(engine.history_len("t"), 1);
        // The same key on another topic is another publish.
        let elsewhere = block(engine.append("u", append())).unwrap();
        assert!(!elsewhere.is_duplicate());
    }

    #[test]
    fn past_the_topic_bound_new_topics_are_refused_but_old_ones_work() {
        let engine = MemoryEngine::new().max_topics(2);
        for topic in ["a", "b"] {
            let _ = block(engine.append(topic, Append::new(Event::new()))).unwrap();
        }
        let err = block(engine.append("c", Append::new(Event::new()))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyTopics);
        assert!(block(engine.append("a", Append::new(Event::new()))).is_ok());
        assert_eq!(engine.topics(), ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_topics_expire_and_make_room() {
        let engine = MemoryEngine::new()
            .max_topics(2)
            .idle_timeout(Duration::from_secs(60));
        for topic in ["a", "b"] {
            let _ = block(engine.append(topic, Append::new(Event::new()))).unwrap();
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        let _ = block(engine.append("c", Append::new(Event::new()))).unwrap();
        assert_eq!(engine.topics(), ["c"]);
    }

    #[test]
    fn reads_are_paged_and_never_create_topics() {
        let engine = MemoryEngine::new();
        for _ in 0..5 {
            let _ = block(engine.append("t", Append::new(Event::new().data("x")))).unwrap();
        }
        let page = block(engine.read("t", Offset::from(1), 2)).unwrap();
        let offsets: Vec<_> = page.records().iter().map(|r| r.offset().minor()).collect();
        assert_eq!(offsets, [2, 3]);
        assert_eq!(page.head(), Offset::from(5));
        let _ = block(engine.read("nobody", Offset::ZERO, 10)).unwrap();
        assert_eq!(engine.topics(), ["t"]);
    }
}
