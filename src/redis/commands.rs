//! [`LazyCommands`]: the command connection of a store that talks to Redis
//! now and then, opened on first use.

use redis::{Cmd, FromRedisValue, Pipeline};
use tokio::sync::OnceCell;

use super::config::RedisConfig;
use super::connection::Connection;
use crate::error::BoxError;

/// A command connection opened on first use, for stores that talk to Redis
/// now and then (MCP sessions, the expiry of MCP streams): every call is
/// bounded by the config's patience.
pub(crate) struct LazyCommands {
    config: RedisConfig,
    connection: OnceCell<Connection>,
}

impl LazyCommands {
    pub(crate) fn new(config: RedisConfig) -> Self {
        Self {
            config,
            connection: OnceCell::new(),
        }
    }

    pub(crate) fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Sends a command or a pipeline; a late answer is an error.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
    ) -> Result<T, BoxError> {
        let work = async {
            let connection = self
                .connection
                .get_or_try_init(|| Connection::for_commands(&self.config))
                .await?;
            let mut conn = connection.clone();
            match request {
                Request::Cmd(cmd) => cmd.query_async(&mut conn).await,
                Request::Pipeline(pipe) => pipe.query_async(&mut conn).await,
            }
        };
        match tokio::time::timeout(self.config.patience(), work).await {
            Ok(result) => Ok(result?),
            Err(_) => Err("redis did not answer in time".into()),
        }
    }
}

/// What [`LazyCommands::query`] sends.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipeline(&'a Pipeline),
}
