//! The bounded memory of idempotency keys: a retry within the window is
//! answered with the first publish's result.
//!
//! Bounds: a key is forgotten once it is older than the window, and when
//! more than the cap of keys are remembered the oldest is forgotten first
//! (its retry would then be stored again). Memory is therefore at most `cap`
//! entries of one topic name, one key and one id each.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{Appended, IdempotencyKey};

type Scoped = (Arc<str>, IdempotencyKey);

#[derive(Debug)]
pub(super) struct Keys {
    map: HashMap<Scoped, (Appended, Instant)>,
    /// Insertion order, oldest first; each entry is in `map` at the same instant.
    order: VecDeque<(Scoped, Instant)>,
    window: Duration,
    cap: usize,
}

impl Keys {
    pub(super) fn new(window: Duration, cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            window,
            cap,
        }
    }

    pub(super) fn window(&self) -> Duration {
        self.window
    }

    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The first result stored under `key` on `topic` within the window.
    pub(super) fn get(
        &mut self,
        topic: &str,
        key: &IdempotencyKey,
        now: Instant,
    ) -> Option<Appended> {
        self.expire(now);
        // A borrowed lookup would need a custom key type; topic names are short.
        let scoped = (Arc::<str>::from(topic), key.clone());
        self.map.get(&scoped).map(|(appended, _)| appended.clone())
    }

    /// Remembers `appended` as the result of `key` on `topic`.
    pub(super) fn insert(
        &mut self,
        topic: Arc<str>,
        key: IdempotencyKey,
        appended: Appended,
        now: Instant,
    ) {
        if self.cap == 0 {
            return;
        }
        while self.map.len() >= self.cap {
            let Some((oldest, at)) = self.order.pop_front() else {
                break;
            };
            self.remove_if_at(&oldest, at);
        }
        let scoped = (topic, key);
        self.order.push_back((scoped.clone(), now));
        self.map.insert(scoped, (appended, now));
    }

    fn expire(&mut self, now: Instant) {
        while let Some((_, at)) = self.order.front() {
            if now.saturating_duration_since(*at) <= self.window {
                break;
            }
            if let Some((oldest, at)) = self.order.pop_front() {
                self.remove_if_at(&oldest, at);
            }
        }
    }

    fn remove_if_at(&mut self, scoped: &Scoped, at: Instant) {
        if self
            .map
            .get(scoped)
            .is_some_and(|(_, stored)| *stored == at)
        {
            self.map.remove(scoped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Epoch, Offset, Position};

    fn appended(n: u64) -> Appended {
        let position = Position::new(Epoch::new("e").unwrap(), Offset::from(n));
        Appended::new(position, position.to_event_id())
    }

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::new(k).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_remembered_for_the_window_then_forgotten() {
        let mut keys = Keys::new(Duration::from_secs(60), 10);
        keys.insert("t".into(), key("k"), appended(1), Instant::now());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(keys.get("t", &key("k"), Instant::now()), Some(appended(1)));
        assert_eq!(
            keys.get("other", &key("k"), Instant::now()),
            None,
            "keys are per topic"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(keys.get("t", &key("k"), Instant::now()), None);
        assert_eq!(keys.len(), 0);
    }

    #[test]
    fn a_flood_of_keys_never_holds_more_than_the_cap() {
        let mut keys = Keys::new(Duration::MAX, 100);
        let now = Instant::now();
        for n in 0..10_000 {
            keys.insert("t".into(), key(&format!("k{n}")), appended(n), now);
            assert!(keys.len() <= 100);
        }
        assert!(keys.order.len() <= 100);
        // The newest are kept, the oldest forgotten first.
        assert_eq!(keys.get("t", &key("k9999"), now), Some(appended(9999)));
        assert_eq!(keys.get("t", &key("k0"), now), None);
    }

    #[test]
    fn a_zero_cap_remembers_nothing() {
        let mut keys = Keys::new(Duration::from_secs(60), 0);
        keys.insert("t".into(), key("k"), appended(1), Instant::now());
        assert_eq!(keys.len(), 0);
    }
}
