//! The shared record of each stream (state, terminal event id, expiry) that
//! every node consults: in memory for an in-memory hub, a Redis hash next to
//! the streams for a Redis hub, so both behave the same.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::token::StreamToken;
use crate::error::Error;

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub(crate) use memory::MemoryRecords;
#[cfg(feature = "redis")]
pub(crate) use redis::RedisRecords;

/// Where a stream is in its life.
///
/// ```
/// use tower_sse::resumable::StreamState;
/// assert!(StreamState::Running.is_running());
/// assert!(!StreamState::Cancelled.is_running());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamState {
    /// The producer is writing (or has not written its terminal event yet).
    Running,
    /// Ended with [`Terminal::Done`](super::Terminal::Done).
    Done,
    /// Ended with [`Terminal::Error`](super::Terminal::Error).
    Failed,
    /// Ended with [`Terminal::Cancelled`](super::Terminal::Cancelled).
    Cancelled,
}

impl StreamState {
    /// Whether the producer has not finished yet.
    #[must_use]
    pub fn is_running(self) -> bool {
        self == Self::Running
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// One stream's shared record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) state: StreamState,
    /// The id of the terminal event, once written.
    pub(crate) terminal_id: Option<String>,
}

/// The hub topics of one stream, for engines that expire them.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Topics<'a> {
    pub(crate) events: &'a str,
    pub(crate) control: &'a str,
}

/// A store of stream records.
pub(crate) trait Records: Send + Sync + fmt::Debug + 'static {
    /// Records a new running stream that lives at most `lifetime`.
    fn create<'a>(
        &'a self,
        token: StreamToken,
        lifetime: Duration,
        topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// The record, or `None` when the stream is unknown or expired.
    fn get(&self, token: StreamToken) -> BoxFuture<'_, Result<Option<Record>, Error>>;

    /// Marks the stream finished; it and its topics expire after `ttl`.
    fn finish<'a>(
        &'a self,
        token: StreamToken,
        state: StreamState,
        terminal_id: &'a str,
        ttl: Duration,
        topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Forgets the stream now (its TTL passed); returns whether it was known.
    fn remove(&self, token: StreamToken) -> bool;

    /// Tokens whose records expired without a finish (their producer died);
    /// the registry closes their topics.
    fn take_expired(&self) -> Vec<StreamToken>;
}
