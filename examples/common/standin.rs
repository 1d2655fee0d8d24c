//! TEMPORARY stand-ins for `tower_sse::Hub`, `tower_sse::Shutdown` and
//! `tower_sse::SseLayer`, which are being written on other branches.
//!
//! Same names and method shapes as the real items, so switching an example
//! over is: delete the `#[path] mod standin;` line, import the real items from
//! `tower_sse`, and replace `standin::sse(...)` with `EventStream::new(...)`
//! plus `.layer(SseLayer::new()...)` on the router. No keep-alive here.
#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    clippy::new_without_default
)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use tower_sse::{EncodedEvent, Error, Event, EventId, EventStream, IntoEvent};

const HISTORY: usize = 1024;

/// Fan-out with ids and a bounded history per topic.
#[derive(Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    seq: u64,
    topics: HashMap<String, Topic>,
}

struct Topic {
    history: VecDeque<(u64, EncodedEvent)>,
    live: broadcast::Sender<EncodedEvent>,
}

impl Topic {
    fn new() -> Self {
        Self {
            history: VecDeque::new(),
            live: broadcast::channel(256).0,
        }
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn publish<E: IntoEvent>(&self, topic: &str, event: E) -> Result<EventId, Error> {
        let event = event.into_event()?;
        let mut state = self.state.lock().unwrap();
        state.seq += 1;
        let seq = state.seq;
        let encoded = event.id(seq).encode();
        let topic = state
            .topics
            .entry(topic.to_owned())
            .or_insert_with(Topic::new);
        if topic.history.len() == HISTORY {
            topic.history.pop_front();
        }
        topic.history.push_back((seq, encoded.clone()));
        let _ = topic.live.send(encoded);
        Ok(EventId::from(seq))
    }

    pub fn subscribe_from(
        &self,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> impl Stream<Item = EncodedEvent> + Send + 'static {
        let mut state = self.state.lock().unwrap();
        let topic = state
            .topics
            .entry(topic.to_owned())
            .or_insert_with(Topic::new);
        let after = last_event_id.and_then(|id| id.parse::<u64>().ok());
        let replay: Vec<EncodedEvent> = match after {
            Some(after) => topic
                .history
                .iter()
                .filter(|(seq, _)| *seq > after)
                .map(|(_, e)| e.clone())
                .collect(),
            None => Vec::new(),
        };
        let live = topic.live.subscribe();
        drop(state);
        let live = stream::unfold(live, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((event, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        stream::iter(replay).chain(live)
    }
}

/// A shutdown signal.
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub async fn triggered(self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|t| *t).await;
    }
}

/// What the layer will do: a retry hint first, the end of the stream on shutdown.
pub fn sse<S>(
    events: S,
    retry: Duration,
    shutdown: &Shutdown,
) -> EventStream<impl Stream<Item = EncodedEvent> + Send + 'static>
where
    S: Stream<Item = EncodedEvent> + Send + 'static,
{
    let hint = Event::new().retry(retry).encode();
    EventStream::new(
        stream::once(async move { hint })
            .chain(events)
            .take_until(shutdown.clone().triggered()),
    )
}
