//! Observing and tidying a [`Hub`]: subscriber counts, topics, reclamation.

use super::hub::{Hub, HubInner};

impl Hub {
    /// How many subscriptions of `topic` are alive right now.
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// let a = hub.subscribe("t");
    /// let b = hub.subscribe("t");
    /// assert_eq!(hub.subscribers("t"), 2);
    /// drop(a);
    /// assert_eq!(hub.subscribers("t"), 1);
    /// assert_eq!(hub.subscribers("other"), 0);
    /// ```
    #[must_use]
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner
            .topics()
            .get(topic)
            .map_or(0, |topic| topic.fanout.subscribers())
    }

    /// How many events the history of `topic` holds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().history(2).build();
    /// for _ in 0..5 {
    ///     hub.publish("t", "x").await?;
    /// }
    /// assert_eq!(hub.history_len("t"), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn history_len(&self, topic: &str) -> usize {
        self.inner
            .topics()
            .get(topic)
            .map_or(0, |topic| topic.log().history.len())
    }

    /// The names of the topics the hub holds (with subscribers or history),
    /// sorted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().history(0).build();
    /// let sub = hub.subscribe("b");
    /// hub.publish("a", "nobody listens, nothing kept").await?;
    /// assert_eq!(hub.topics(), ["b"]);
    /// drop(sub);
    /// assert!(hub.topics().is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.topics().keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// Drops expired history and removes topics that have neither
    /// subscribers nor history. The hub also does this as it goes (when a
    /// subscriber leaves, and every 1024 publishes when history has an age limit).
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// drop(hub.subscribe("t"));
    /// hub.reclaim();
    /// assert!(hub.topics().is_empty());
    /// ```
    pub fn reclaim(&self) {
        self.inner
            .topics()
            .retain(|_, topic| !HubInner::try_retire(topic));
    }
}
