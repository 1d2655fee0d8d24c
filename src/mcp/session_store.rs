//! [`HubSessionStore`]: rmcp's `SessionStore` (cross-instance session
//! recovery) in memory or in the Redis a hub uses.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use tokio::time::Instant;

use crate::channel::Hub;

/// The longest session id accepted, in bytes (rmcp's ids are 36-byte UUIDs).
pub const MAX_SESSION_ID_LEN: usize = 128;

/// The default bound on one session's stored state (its `initialize`
/// parameters as JSON), in bytes.
pub const DEFAULT_MAX_STATE_BYTES: usize = 64 * 1024;

/// The longest TTL accepted; longer ones are saturated to it.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// rmcp's `SessionStore` for cross-instance session recovery: the state of
/// each MCP session (the client's `initialize` parameters) is stored when
/// the session starts, so a request that reaches another node with the
/// session's `Mcp-Session-Id` restores the session there instead of
/// answering `404`.
///
/// - **Where.** [`new`](Self::new) stores in the Redis of a Redis hub (one
///   string per session, `<key prefix>mcp-session:<id>`, written with `SET
///   … EX`, read with `GETEX … EX`, removed with `DEL`), so every node on
///   that Redis sees every session; on an in-memory hub, or with
///   [`in_memory`](Self::in_memory), in this process (useful for one node
///   and in tests).
/// - **Expiry.** A session's state expires [`ttl`](Self::ttl) (default 24
///   hours) after it was stored or last restored on a node; a client that
///   comes back later must initialize again (rmcp answers `404`).
/// - **Bounds.** An id is 1 to [`MAX_SESSION_ID_LEN`] visible ASCII bytes
///   (the MCP rule for session ids); a state is at most
///   [`max_state_bytes`](Self::max_state_bytes) of JSON. Loading a
///   malformed id answers "unknown" without touching the backend; storing
///   one, or an oversized state, is an error. In memory at most
///   [`max_sessions`](Self::max_sessions) (default 10,000) are kept: when
///   full, expired ones are dropped first, then the one closest to expiry.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
/// use tower_sse::mcp::HubSessionStore;
///
/// let hub = tower_sse::Hub::new();
/// let sessions = HubSessionStore::new(&hub).ttl(Duration::from_secs(3600));
/// let mut config = StreamableHttpServerConfig::default();
/// config.session_store = Some(Arc::new(sessions));
/// ```
#[derive(Clone)]
pub struct HubSessionStore {
    backend: Arc<Backend>,
    ttl: Duration,
    max_sessions: usize,
    max_state_bytes: usize,
}

enum Backend {
    Memory(Mutex<HashMap<String, Entry>>),
    #[cfg(feature = "redis")]
    Redis(Box<redis_backend::RedisSessions>),
}

struct Entry {
    json: Arc<str>,
    expires: Instant,
}

impl HubSessionStore {
    /// A store next to `hub`'s events: in its Redis for a Redis hub,
    /// otherwise in memory.
    ///
    /// ```
    /// let store = tower_sse::mcp::HubSessionStore::new(&tower_sse::Hub::new());
    /// assert!(!store.is_shared());
    /// ```
    #[must_use]
    pub fn new(hub: &Hub) -> Self {
        #[cfg(feature = "redis")]
        if let Some(config) = hub.config().redis_config() {
            return Self::with_backend(Backend::Redis(Box::new(
                redis_backend::RedisSessions::new(config.clone()),
            )));
        }
        let _ = hub;
        Self::in_memory()
    }

    /// A store in this process only.
    ///
    /// ```
    /// let store = tower_sse::mcp::HubSessionStore::in_memory().max_sessions(100);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn in_memory() -> Self {
        Self::with_backend(Backend::Memory(Mutex::new(HashMap::new())))
    }

    fn with_backend(backend: Backend) -> Self {
        Self {
            backend: Arc::new(backend),
            ttl: Duration::from_secs(24 * 60 * 60),
            max_sessions: 10_000,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
        }
    }

    /// How long a session's state is kept after it was stored or last
    /// restored (default 24 hours; saturated to 1 second ..= 365 days).
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = tower_sse::mcp::HubSessionStore::in_memory().ttl(Duration::ZERO);
    /// assert_eq!(store.ttl_value(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.clamp(Duration::from_secs(1), MAX_TTL);
        self
    }

    /// The TTL.
    #[must_use]
    pub fn ttl_value(&self) -> Duration {
        self.ttl
    }

    /// The most sessions kept in memory (default 10,000, at least 1);
    /// ignored on Redis, where the TTL bounds them.
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// The largest state stored, in bytes of JSON (default
    /// [`DEFAULT_MAX_STATE_BYTES`]).
    #[must_use]
    pub fn max_state_bytes(mut self, max: usize) -> Self {
        self.max_state_bytes = max;
        self
    }

    /// Whether the sessions live in Redis (shared by every node on it).
    #[must_use]
    pub fn is_shared(&self) -> bool {
        !matches!(*self.backend, Backend::Memory(_))
    }

    fn decode(&self, json: &str) -> Result<SessionState, SessionStoreError> {
        if json.len() > self.max_state_bytes {
            return Err("stored session state is larger than the configured bound".into());
        }
        Ok(serde_json::from_str(json)?)
    }
}

/// Whether `id` can be a session id: 1..=128 visible ASCII bytes.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_SESSION_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

fn after(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl).unwrap_or(now)
}

fn lock(map: &Mutex<HashMap<String, Entry>>) -> MutexGuard<'_, HashMap<String, Entry>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes room for one more entry: drops the expired ones, then the one
/// closest to expiry.
fn make_room(map: &mut HashMap<String, Entry>, max: usize) {
    if map.len() < max {
        return;
    }
    let now = Instant::now();
    map.retain(|_, entry| entry.expires > now);
    while map.len() >= max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, entry)| entry.expires)
            .map(|(id, _)| id.clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

#[async_trait::async_trait]
impl SessionStore for HubSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        if !valid_id(session_id) {
            return Ok(None);
        }
        let json = match &*self.backend {
            Backend::Memory(map) => {
                let mut map = lock(map);
                let now = Instant::now();
                match map.get_mut(session_id) {
                    Some(entry) if entry.expires > now => {
                        entry.expires = after(self.ttl);
                        Some(Arc::clone(&entry.json))
                    }
                    Some(_) => {
                        map.remove(session_id);
                        None
                    }
                    None => None,
                }
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.load(session_id, self.ttl).await?.map(Arc::from),
        };
        json.map(|json| self.decode(&json)).transpose()
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        if !valid_id(session_id) {
            return Err("not a session id: 1 to 128 visible ASCII bytes".into());
        }
        let json = serde_json::to_string(state)?;
        if json.len() > self.max_state_bytes {
            return Err(format!(
                "session state of {} bytes is larger than the bound of {} bytes",
                json.len(),
                self.max_state_bytes
            )
            .into());
        }
        match &*self.backend {
            Backend::Memory(map) => {
                let mut map = lock(map);
                if !map.contains_key(session_id) {
                    make_room(&mut map, self.max_sessions);
                }
                map.insert(
                    session_id.to_owned(),
                    Entry {
                        json: Arc::from(json),
                        expires: after(self.ttl),
                    },
                );
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.store(session_id, &json, self.ttl).await,
        }
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        if !valid_id(session_id) {
            return Ok(());
        }
        match &*self.backend {
            Backend::Memory(map) => {
                lock(map).remove(session_id);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.delete(session_id).await,
        }
    }
}

impl fmt::Debug for HubSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &*self.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("HubSessionStore")
            .field("backend", &backend)
            .field("ttl", &self.ttl)
            .field("max_sessions", &self.max_sessions)
            .field("max_state_bytes", &self.max_state_bytes)
            .finish()
    }
}

#[cfg(feature = "redis")]
mod redis_backend {
    //! Session states as Redis strings with an expiry.

    use std::time::Duration;

    use rmcp::transport::streamable_http_server::session::SessionStoreError;

    use crate::redis::{LazyCommands, RedisConfig, Request};

    pub(super) struct RedisSessions(LazyCommands);

    impl RedisSessions {
        pub(super) fn new(config: RedisConfig) -> Self {
            Self(LazyCommands::new(config))
        }

        fn key(&self, id: &str) -> String {
            format!("{}mcp-session:{id}", self.0.config().key_prefix)
        }

        async fn query<T: redis::FromRedisValue>(
            &self,
            cmd: &redis::Cmd,
        ) -> Result<T, SessionStoreError> {
            self.0.query(Request::Cmd(cmd)).await
        }

        pub(super) async fn load(
            &self,
            id: &str,
            ttl: Duration,
        ) -> Result<Option<String>, SessionStoreError> {
            let mut cmd = redis::cmd("GETEX");
            cmd.arg(self.key(id)).arg("EX").arg(ttl.as_secs().max(1));
            self.query(&cmd).await
        }

        pub(super) async fn store(
            &self,
            id: &str,
            json: &str,
            ttl: Duration,
        ) -> Result<(), SessionStoreError> {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(id))
                .arg(json)
                .arg("EX")
                .arg(ttl.as_secs().max(1));
            self.query(&cmd).await
        }

        pub(super) async fn delete(&self, id: &str) -> Result<(), SessionStoreError> {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(self.key(id));
            self.query::<i64>(&cmd).await.map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams};

    fn state(name: &str) -> SessionState {
        SessionState::new(InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new(name, "1.0"),
        ))
    }

    fn name(state: &SessionState) -> String {
        state.initialize_params.client_info.name.clone()
    }

    #[tokio::test]
    async fn a_stored_state_loads_until_deleted() {
        let store = HubSessionStore::in_memory();
        store.store("s-1", &state("client")).await.unwrap();
        assert_eq!(name(&store.load("s-1").await.unwrap().unwrap()), "client");
        store.delete("s-1").await.unwrap();
        assert!(store.load("s-1").await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_expires_after_the_ttl_since_its_last_use() {
        let store = HubSessionStore::in_memory().ttl(Duration::from_secs(10));
        store.store("s", &state("c")).await.unwrap();
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(store.load("s").await.unwrap().is_some()); // refreshes
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(store.load("s").await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(store.load("s").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn malformed_ids_and_oversized_states_are_refused() {
        let store = HubSessionStore::in_memory().max_state_bytes(200);
        let long = "x".repeat(MAX_SESSION_ID_LEN + 1);
        for bad in ["", "has space", "new\nline", "ü", long.as_str()] {
            assert!(store.store(bad, &state("c")).await.is_err(), "{bad:?}");
            assert!(store.load(bad).await.unwrap().is_none(), "{bad:?}");
        }
        let huge = state(&"n".repeat(500));
        let err = store.store("ok", &huge).await.unwrap_err();
        assert!(err.to_string().contains("larger than the bound"), "{err}");
        assert!(store.load("ok").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_flood_of_sessions_keeps_at_most_the_bound() {
        let store = HubSessionStore::in_memory().max_sessions(50);
        for i in 0..1_000 {
            store.store(&format!("s-{i}"), &state("c")).await.unwrap();
        }
        let Backend::Memory(map) = &*store.backend else {
            unreachable!("in memory")
        };
        assert_eq!(lock(map).len(), 50);
        // The newest survive.
        assert!(store.load("s-999").await.unwrap().is_some());
        assert!(store.load("s-0").await.unwrap().is_none());
    }
}
