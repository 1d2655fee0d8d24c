//! [`RedisCheckpoints`]: checkpoints in Redis, readable by every server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::checkpoint::{CheckpointStore, StoreFuture};
use crate::error::{BoxError, Error, ErrorKind};
use crate::redis::{Connection, RedisConfig};

/// Where the store connects.
#[derive(Clone)]
enum Target {
    /// One server, by URL.
    Url(redis::Client),
    /// A server or a cluster, as the hub's engine is configured.
    Config(Box<RedisConfig>),
}

/// A [`CheckpointStore`] in Redis (feature `redis`): each checkpoint is one
/// string key `<prefix>{<id>}` with a TTL (default 24 h), so the store is
/// bounded by age (and by Redis's own `maxmemory` policy) and any server of
/// a cluster resumes any client. One `SET ... PX` per checkpoint, one `GET`
/// per resume; each bounded by a 5 s timeout. On a Redis Cluster, build it
/// with [`RedisCheckpoints::from_config`] from a
/// [`RedisConfig::cluster`]: each key is its own hash tag, routed to the
/// shard that owns it.
///
/// ```no_run
/// use tower_sse::{multi::{CursorKey, Multiplexer, RedisCheckpoints}, Hub};
///
/// # fn run(hub: Hub) -> Result<(), tower_sse::Error> {
/// let multi = Multiplexer::new(hub)
///     .key(CursorKey::new(*b"same-on-all-srvs"))
///     .checkpoints(RedisCheckpoints::new("redis://127.0.0.1/")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisCheckpoints {
    target: Target,
    connection: Arc<OnceCell<Connection>>,
    prefix: Arc<str>,
    ttl: Duration,
    timeout: Duration,
}

impl RedisCheckpoints {
    /// The default key prefix: `sse:cp:`.
    pub const DEFAULT_PREFIX: &'static str = "sse:cp:";
    /// The default TTL: 24 hours.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

    /// Checkpoints in the Redis at `url`; connects on first use.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a malformed URL.
    pub fn new(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::with_source(ErrorKind::InvalidConfig, e))?;
        Ok(Self::with_target(Target::Url(client)))
    }

    /// Checkpoints where `config` connects: one server or a Redis Cluster
    /// ([`RedisConfig::cluster`]), with its connect and response timeouts
    /// (its key prefix and the hub's other settings are not used; set this
    /// store's own with [`RedisCheckpoints::key_prefix`]). Connects on first
    /// use.
    ///
    /// ```
    /// use tower_sse::{multi::RedisCheckpoints, redis::RedisConfig};
    ///
    /// let config = RedisConfig::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])?;
    /// let store = RedisCheckpoints::from_config(&config).key_prefix("app:cp:");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn from_config(config: &RedisConfig) -> Self {
        Self::with_target(Target::Config(Box::new(config.clone())))
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            connection: Arc::new(OnceCell::new()),
            prefix: Arc::from(Self::DEFAULT_PREFIX),
            ttl: Self::DEFAULT_TTL,
            timeout: Duration::from_secs(5),
        }
    }

    /// The key prefix (keep the hub's own prefix apart).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// How long a checkpoint lives after it was (last) saved: 1 s to 30 days.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(30 * 24 * 3600));
        self
    }

    fn key(&self, id: u64) -> String {
        format!("{}{{{id:016x}}}", self.prefix)
    }

    async fn connection(&self) -> Result<Connection, BoxError> {
        let connect = async {
            match &self.target {
                Target::Url(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_number_of_retries(0)
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.timeout));
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map(Connection::Manager)
                }
                Target::Config(config) => Connection::for_commands(config).await,
            }
        };
        let connection =
            tokio::time::timeout(self.timeout, self.connection.get_or_try_init(|| connect))
                .await??;
        Ok(connection.clone())
    }
}

impl CheckpointStore for RedisCheckpoints {
    fn save(&self, id: u64, checkpoint: Bytes) -> StoreFuture<()> {
        let this = self.clone();
        Box::pin(async move {
            let mut conn = this.connection().await?;
            let ttl = u64::try_from(this.ttl.as_millis()).unwrap_or(u64::MAX);
            let mut cmd = redis::cmd("SET");
            cmd.arg(this.key(id))
                .arg(&checkpoint[..])
                .arg("PX")
                .arg(ttl);
            tokio::time::timeout(this.timeout, cmd.query_async::<()>(&mut conn)).await??;
            Ok(())
        })
    }

    fn load(&self, id: u64) -> StoreFuture<Option<Bytes>> {
        let this = self.clone();
        Box::pin(async move {
            let mut conn = this.connection().await?;
            let mut cmd = redis::cmd("GET");
            cmd.arg(this.key(id));
            let value: Option<Vec<u8>> =
                tokio::time::timeout(this.timeout, cmd.query_async(&mut conn)).await??;
            Ok(value.map(Bytes::from))
        })
    }
}

impl fmt::Debug for RedisCheckpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCheckpoints")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}
