//! [`Connection`]: one connection type over a single Redis server or a
//! Redis Cluster, so that publishing, replay and readers are written once.
//!
//! - **Single server**: commands go through one multiplexed
//!   [`ConnectionManager`] (RESP3, so it hears at once when Redis drops it);
//!   each reader gets its own [`MultiplexedConnection`].
//! - **Cluster**: commands go through one redis-rs cluster connection
//!   (it routes each command by its key's slot and follows `MOVED`, `ASK`
//!   and failovers). A topic's keys share one hash tag (see `keys.rs`), so
//!   a script never crosses slots.
//!
//! A reader's blocking `XREAD` must never share a connection with other
//! commands (Redis answers a connection's commands in order, so everything
//! behind the blocked read would wait). On a cluster each reader therefore
//! opens a cluster connection of its own: redis-rs keeps re-resolving the
//! slot's owner across `MOVED` and failovers, which a hand-pinned
//! connection to one node would have to re-implement. The price is one
//! connection per master per *followed topic* instead of one; readers
//! exist only for topics with local subscribers.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use super::config::{RedisConfig, Target};

/// A connection to a single server or to a cluster.
#[derive(Clone)]
pub(crate) enum Connection {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Manager(_) => "Connection::Manager",
            Self::Multiplexed(_) => "Connection::Multiplexed",
            Self::Cluster(_) => "Connection::Cluster",
        })
    }
}

impl Connection {
    /// The shared connection for publishing and replay.
    pub(crate) async fn for_commands(config: &RedisConfig) -> RedisResult<Self> {
        match &config.target {
            Target::Single(client) => {
                // Failed reconnects are not retried inside the manager: a
                // call made while Redis is down must fail now, not after a
                // hidden retry loop.
                let manager_config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.response_timeout));
                // RESP3 lets the manager hear that its connection dropped
                // (say, Redis restarted) and reconnect before the next
                // command, instead of failing that command on the dead one.
                let info = client.get_connection_info().clone();
                let resp3 = info
                    .redis_settings()
                    .clone()
                    .set_protocol(redis::ProtocolVersion::RESP3);
                let client = redis::Client::open(info.set_redis_settings(resp3))?;
                ConnectionManager::new_with_config(client, manager_config)
                    .await
                    .map(Self::Manager)
            }
            Target::Cluster(nodes) => cluster(config, nodes, config.response_timeout).await,
        }
    }

    /// A dedicated connection for one reader, whose blocking reads wait up
    /// to the block timeout for their reply.
    pub(crate) async fn for_reader(config: &RedisConfig) -> RedisResult<Self> {
        let response_timeout = config.block_timeout.saturating_add(config.response_timeout);
        match &config.target {
            Target::Single(client) => {
                let connection_config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(response_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&connection_config)
                    .await
                    .map(Self::Multiplexed)
            }
            Target::Cluster(nodes) => cluster(config, nodes, response_timeout).await,
        }
    }
}

async fn cluster(
    config: &RedisConfig,
    nodes: &[redis::ConnectionInfo],
    response_timeout: Duration,
) -> RedisResult<Connection> {
    let client = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(config.connect_timeout)
        .response_timeout(response_timeout)
        // A few quick retries ride out a slot move or a failover; the
        // caller's deadline bounds them.
        .retries(4)
        .min_retry_wait(20)
        .max_retry_wait(500)
        .build()?;
    client.get_async_connection().await.map(Connection::Cluster)
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(c) => c.req_packed_command(cmd),
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
