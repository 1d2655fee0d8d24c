//! Stream records in Redis, next to the streams of a Redis hub: one hash per
//! stream (`<prefix>resumable-record:<token>`), expiring with the stream's keys.

use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use tokio::sync::OnceCell;

use super::{Record, Records, StreamState, Topics};
use crate::error::{Error, ErrorKind};
use crate::redis::{Connection, RedisConfig};
use crate::resumable::token::StreamToken;

/// Records in the Redis the hub uses; every node sees the same records.
#[derive(Debug)]
pub(crate) struct RedisRecords {
    config: RedisConfig,
    connection: OnceCell<Connection>,
}

fn backend(e: impl Into<crate::error::BoxError>) -> Error {
    Error::with_source(ErrorKind::Backend, e)
}

/// Makes every key of `topic` (stream, epoch, entry counter) expire after
/// `seconds` (see `TopicKeys::expire`).
fn expire_topic(pipe: &mut redis::Pipeline, config: &RedisConfig, topic: &str, seconds: i64) {
    config.keys(topic).expire(pipe, seconds);
}

/// Whole seconds for `EXPIRE`, at least one.
fn seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

impl RedisRecords {
    pub(crate) fn new(config: RedisConfig) -> Self {
        Self {
            config,
            connection: OnceCell::new(),
        }
    }

    fn key(&self, token: StreamToken) -> String {
        format!("{}resumable-record:{token}", self.config.key_prefix)
    }

    async fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, Error> {
        let deadline = self.config.patience();
        let work = async {
            let connection = self
                .connection
                .get_or_try_init(|| Connection::for_commands(&self.config))
                .await
                .map_err(backend)?;
            let mut conn = connection.clone();
            pipe.query_async(&mut conn).await.map_err(backend)
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(elapsed) => Err(backend(elapsed)),
        }
    }
}

impl Records for RedisRecords {
    fn create<'a>(
        &'a self,
        token: StreamToken,
        lifetime: Duration,
        topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        async move {
            let key = self.key(token);
            let mut pipe = redis::pipe();
            pipe.hset(&key, "state", StreamState::Running.as_str())
                .ignore()
                .expire(&key, seconds(lifetime) as i64)
                .ignore();
            expire_topic(
                &mut pipe,
                &self.config,
                topics.events,
                seconds(lifetime) as i64,
            );
            self.query::<()>(&pipe).await
        }
        .boxed()
    }

    fn get(&self, token: StreamToken) -> BoxFuture<'_, Result<Option<Record>, Error>> {
        async move {
            let mut pipe = redis::pipe();
            let key = self.key(token);
            pipe.hget(&key, "state").hget(&key, "terminal");
            let (state, terminal_id): (Option<String>, Option<String>) = self.query(&pipe).await?;
            Ok(state.and_then(|state| {
                Some(Record {
                    state: StreamState::parse(&state)?,
                    terminal_id,
                })
            }))
        }
        .boxed()
    }

    fn finish<'a>(
        &'a self,
        token: StreamToken,
        state: StreamState,
        terminal_id: &'a str,
        ttl: Duration,
        topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        async move {
            let key = self.key(token);
            let ttl = seconds(ttl) as i64;
            let mut pipe = redis::pipe();
            pipe.hset_multiple(
                &key,
                &[("state", state.as_str()), ("terminal", terminal_id)],
            )
            .ignore()
            .expire(&key, ttl)
            .ignore();
            expire_topic(&mut pipe, &self.config, topics.events, ttl);
            expire_topic(&mut pipe, &self.config, topics.control, ttl);
            self.query::<()>(&pipe).await
        }
        .boxed()
    }

    fn remove(&self, _token: StreamToken) -> bool {
        // Redis expires the record itself.
        false
    }

    fn take_expired(&self) -> Vec<StreamToken> {
        Vec::new()
    }
}
