//! The Redis keys of one topic, all under one cluster hash tag.
//!
//! A topic's stream is `<prefix>{<tag>}`, its epoch `<prefix>{<tag>}:epoch`,
//! the counter numbering its entries `<prefix>{<tag>}:seq`, its
//! idempotency keys `<prefix>{<tag>}:idem:<key>`. Redis Cluster hashes
//! only what is between the first `{` and the first `}` after it, so every
//! key of a topic maps to the same slot and every script touches one shard.
//! The tag is the topic with `%`, `{` and `}` percent-escaped (so the tag
//! never ends early and two topics never share keys), and `%` alone for the
//! empty topic (an empty tag `{}` would hash the whole key instead).

/// The keys of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicKeys {
    pub(crate) stream: String,
    pub(crate) epoch: String,
    pub(crate) seq: String,
}

impl TopicKeys {
    /// Adds to `pipe` the commands that make the topic's keys expire after
    /// `seconds`. Each command names one key, so on a cluster each goes to
    /// the shard that owns it.
    ///
    /// The epoch goes a second before the stream and the counter: a stream
    /// found without its epoch gets a new one, but an epoch with an expiry
    /// and no stream is taken for the epoch of a topic nobody published to
    /// yet and kept, so if it outlived the stream a stale id would name new
    /// events.
    pub(crate) fn expire(&self, pipe: &mut redis::Pipeline, seconds: i64) {
        pipe.expire(&self.epoch, seconds).ignore();
        for key in [&self.stream, &self.seq] {
            pipe.expire(key, seconds.saturating_add(1)).ignore();
        }
    }

    pub(crate) fn new(prefix: &str, topic: &str) -> Self {
        let mut stream = String::with_capacity(prefix.len() + topic.len() + 2);
        stream.push_str(prefix);
        stream.push('{');
        if topic.is_empty() {
            stream.push('%');
        }
        for c in topic.chars() {
            match c {
                '%' => stream.push_str("%25"),
                '{' => stream.push_str("%7B"),
                '}' => stream.push_str("%7D"),
                c => stream.push(c),
            }
        }
        stream.push('}');
        let epoch = format!("{stream}:epoch");
        let seq = format!("{stream}:seq");
        Self { stream, epoch, seq }
    }

    /// The key that remembers the publish made with idempotency key `key`.
    pub(crate) fn idempotency(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of `key` Redis Cluster hashes (its hash tag, or all of it).
    fn hashed(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn every_key_of_a_topic_hashes_to_the_same_tag() {
        for topic in ["news", "", "}", "{", "a}b{c", "%7D", "%", "ü{}"] {
            let keys = TopicKeys::new("sse:", topic);
            let tag = hashed(&keys.stream);
            assert_eq!(hashed(&keys.epoch), tag, "{topic:?}");
            assert_eq!(hashed(&keys.seq), tag, "{topic:?}");
            assert_eq!(hashed(&keys.idempotency("k}{")), tag, "{topic:?}");
            assert!(!tag.is_empty() && !tag.contains(['{', '}']), "{topic:?}");
        }
    }

    #[test]
    fn distinct_topics_get_distinct_streams() {
        let topics = ["", "%", "%25", "}", "%7D", "{", "%7B", "a", "a}"];
        let streams: std::collections::HashSet<_> = topics
            .iter()
            .map(|t| TopicKeys::new("p:", t).stream)
            .collect();
        assert_eq!(streams.len(), topics.len());
    }

    proptest::proptest! {
        #[test]
        fn escaping_is_injective(a in "\\PC{0,6}", b in "\\PC{0,6}") {
            if a != b {
                proptest::prop_assert_ne!(TopicKeys::new("p:", &a).stream, TopicKeys::new("p:", &b).stream);
            }
        }
    }
}
