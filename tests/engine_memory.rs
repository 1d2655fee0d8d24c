//! The engine contract suite (`tests/engine_contract/`) on the in-memory engine.

mod engine_contract;

use engine_contract::{Hubs, Resume};
use proptest::prelude::*;
use tower_sse::{Hub, HubConfig};

/// One in-memory hub shared by every hub the suite asks for: in memory,
/// "two servers" are one process.
fn hubs() -> impl Hubs {
    let hub = HubConfig::new().history(2000).build();
    (move || hub.clone(), "memory".to_owned())
}

#[tokio::test]
async fn the_in_memory_engine_meets_the_engine_contract() {
    engine_contract::run_all(&hubs()).await;
}

#[tokio::test]
async fn a_fresh_hub_is_a_restart_and_answers_old_ids_with_reset() {
    // In memory, a new process is a new hub: its topics have new epochs.
    let before = Hub::new();
    let old = before.publish("t", "old").await.unwrap();
    let after = (|| Hub::new(), "restart".to_owned());
    let hub = after.hub();
    let new = hub.publish("t", "new").await.unwrap();
    let mut sub = hub.subscribe_from("t", Some(old.as_str())).unwrap();
    let gap = futures_util::StreamExt::next(&mut sub).await.unwrap();
    assert_eq!(
        gap.as_bytes(),
        format!("event: sse-gap\nid: {new}\ndata: reset\n\n").as_bytes()
    );
}

fn resume() -> impl Strategy<Value = Resume> {
    prop_oneof![
        any::<usize>().prop_map(Resume::Published),
        any::<u64>().prop_map(Resume::OtherEpoch),
        (0_u64..100).prop_map(Resume::Future),
        "[ -~]{1,40}".prop_map(Resume::Garbage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_epoch_rules_hold_for_every_kind_of_resume_id(n in 1_usize..40, resume in resume()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(engine_contract::epoch_rules(&hubs(), n, resume));
    }
}
