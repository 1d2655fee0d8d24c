//! Stream records in memory, for an in-memory hub: bounded, expiring.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{self, BoxFuture, FutureExt};
use tokio::time::Instant;

use super::{Record, Records, StreamState, Topics};
use crate::error::{Error, ErrorKind};
use crate::resumable::token::StreamToken;

#[derive(Debug)]
struct Entry {
    record: Record,
    expires: Instant,
}

/// At most `max` records; expired ones are dropped when room is needed.
#[derive(Debug)]
pub(crate) struct MemoryRecords {
    max: usize,
    entries: Mutex<HashMap<StreamToken, Entry>>,
    expired: Mutex<Vec<StreamToken>>,
}

impl MemoryRecords {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            entries: Mutex::new(HashMap::new()),
            expired: Mutex::new(Vec::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<StreamToken, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note_expired(&self, tokens: impl IntoIterator<Item = StreamToken>) {
        let mut expired = self.expired.lock().unwrap_or_else(PoisonError::into_inner);
        expired.extend(tokens);
    }
}

/// `now + d`, saturated (durations are already capped at a year).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

impl Records for MemoryRecords {
    fn create<'a>(
        &'a self,
        token: StreamToken,
        lifetime: Duration,
        _topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let mut entries = self.entries();
        if entries.len() >= self.max {
            let now = Instant::now();
            let before: Vec<_> = entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(t, _)| *t)
                .collect();
            for t in &before {
                entries.remove(t);
            }
            self.note_expired(before);
        }
        let result = if entries.len() >= self.max {
            Err(Error::new(ErrorKind::TooManyStreams))
        } else {
            entries.insert(
                token,
                Entry {
                    record: Record {
                        state: StreamState::Running,
                        terminal_id: None,
                    },
                    expires: after(lifetime),
                },
            );
            Ok(())
        };
        future::ready(result).boxed()
    }

    fn get(&self, token: StreamToken) -> BoxFuture<'_, Result<Option<Record>, Error>> {
        let mut entries = self.entries();
        let record = match entries.get(&token) {
            Some(entry) if entry.expires <= Instant::now() => {
                entries.remove(&token);
                self.note_expired([token]);
                None
            }
            Some(entry) => Some(entry.record.clone()),
            None => None,
        };
        future::ready(Ok(record)).boxed()
    }

    fn finish<'a>(
        &'a self,
        token: StreamToken,
        state: StreamState,
        terminal_id: &'a str,
        ttl: Duration,
        _topics: Topics<'a>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        if let Some(entry) = self.entries().get_mut(&token) {
            entry.record = Record {
                state,
                terminal_id: Some(terminal_id.to_owned()),
            };
            entry.expires = after(ttl);
        }
        future::ready(Ok(())).boxed()
    }

    fn remove(&self, token: StreamToken) -> bool {
        self.entries().remove(&token).is_some()
    }

    fn take_expired(&self) -> Vec<StreamToken> {
        std::mem::take(&mut *self.expired.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: Topics<'static> = Topics {
        events: "e",
        control: "c",
    };

    #[tokio::test(start_paused = true)]
    async fn a_full_registry_refuses_until_a_stream_expires() {
        let records = MemoryRecords::new(2);
        let hour = Duration::from_secs(3600);
        records
            .create(StreamToken::generate(), hour, TOPICS)
            .await
            .unwrap();
        let short = StreamToken::generate();
        records
            .create(short, Duration::from_secs(1), TOPICS)
            .await
            .unwrap();
        let err = records
            .create(StreamToken::generate(), hour, TOPICS)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyStreams);

        tokio::time::advance(Duration::from_secs(2)).await;
        records
            .create(StreamToken::generate(), hour, TOPICS)
            .await
            .unwrap();
        assert_eq!(records.take_expired(), [short]);
        assert_eq!(records.get(short).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_record_expires_after_its_ttl() {
        let records = MemoryRecords::new(10);
        let token = StreamToken::generate();
        records
            .create(token, Duration::from_secs(3600), TOPICS)
            .await
            .unwrap();
        records
            .finish(
                token,
                StreamState::Done,
                "9",
                Duration::from_secs(5),
                TOPICS,
            )
            .await
            .unwrap();
        let record = records.get(token).await.unwrap().unwrap();
        assert_eq!(record.terminal_id.as_deref(), Some("9"));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(records.get(token).await.unwrap(), None);
    }
}
