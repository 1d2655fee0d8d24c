//! Property test of the replay seam: random interleavings of publishes,
//! subscribes with a last event id and reads never lose or duplicate an event
//! while the history covers it, and announce a gap when it does not.

use futures_util::{FutureExt, StreamExt};
use proptest::prelude::*;
use tower_sse::{HubConfig, Subscription};

const HISTORY: usize = 6;
const TOPICS: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Op {
    Publish {
        topic: usize,
    },
    /// Resume from the `back`-th newest event of the topic (or "0" when
    /// there are fewer).
    Subscribe {
        topic: usize,
        back: usize,
    },
    Read {
        sub: usize,
        max: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..TOPICS.len()).prop_map(|topic| Op::Publish { topic }),
        2 => (0..TOPICS.len(), 0..HISTORY + 4).prop_map(|(topic, back)| Op::Subscribe { topic, back }),
        3 => (0..8_usize, 1..5_usize).prop_map(|(sub, max)| Op::Read { sub, max }),
    ]
}

struct Sub {
    stream: Subscription,
    /// What the subscription must yield, in order.
    expected: Vec<String>,
    received: Vec<String>,
}

fn read(sub: &mut Sub, max: usize) {
    for _ in 0..max {
        match sub.stream.next().now_or_never() {
            Some(Some(event)) => sub
                .received
                .push(String::from_utf8(event.as_bytes().to_vec()).unwrap()),
            _ => break,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replay_then_live_is_exactly_once_in_order(ops in proptest::collection::vec(op(), 1..80)) {
        // The buffer is large enough that nobody lags here.
        let hub = HubConfig::new().history(HISTORY).buffer(128).build();
        let mut published: Vec<Vec<String>> = vec![Vec::new(); TOPICS.len()];
        let mut subs: Vec<(usize, Sub)> = Vec::new();
        for op in ops {
            match op {
                Op::Publish { topic } => {
                    let data = format!("{}{}", TOPICS[topic], published[topic].len());
                    let id = hub
                        .publish(TOPICS[topic], data.clone())
                        .now_or_never()
                        .expect("in memory, publishing completes at once")
                        .unwrap();
                    let wire = format!("id: {id}\ndata: {data}\n\n");
                    for (t, sub) in &mut subs {
                        if *t == topic {
                            sub.expected.push(wire.clone());
                        }
                    }
                    published[topic].push(wire);
                }
                Op::Subscribe { topic, back } => {
                    let events = &published[topic];
                    let (last_id, missed) = if back < events.len() {
                        let at = events.len() - 1 - back;
                        let id = events[at].lines().next().unwrap()["id: ".len()..].to_owned();
                        (id, &events[at + 1..])
                    } else {
                        ("0".to_owned(), &events[..])
                    };
                    let stream = hub.subscribe_from(TOPICS[topic], Some(&last_id)).unwrap();
                    let expected = if missed.len() <= HISTORY && (back < events.len() || events.len() <= HISTORY) {
                        missed.to_vec()
                    } else {
                        let newest = events.last().unwrap().lines().next().unwrap()["id: ".len()..].to_owned();
                        vec![format!("event: sse-gap\nid: {newest}\ndata: unknown-id\n\n")]
                    };
                    subs.push((topic, Sub { stream, expected, received: Vec::new() }));
                }
                Op::Read { sub, max } => {
                    if let Some((_, sub)) = subs.get_mut(sub) {
                        read(sub, max);
                    }
                }
            }
        }
        for (_, sub) in &mut subs {
            read(sub, usize::MAX);
            prop_assert_eq!(&sub.received, &sub.expected);
        }
    }
}
