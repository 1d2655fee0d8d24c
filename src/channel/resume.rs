//! The replay half of a resuming subscription: turns `Last-Event-ID` into
//! pages read from the engine, applying the epoch rules. Shared by every
//! engine.
//!
//! | `Last-Event-ID`                               | first events             |
//! |-----------------------------------------------|--------------------------|
//! | `<epoch>.<offset>` of the current epoch        | every later event, exact |
//! | `<epoch>.<offset>`, offset older than the kept history | gap `unknown-id` |
//! | `<epoch>.<offset>`, offset the epoch never issued | gap `unknown-id`      |
//! | `<epoch>.<offset>` of another epoch            | gap `reset`              |
//! | `0`                                            | the whole history (gap `unknown-id` if some was dropped) |
//! | an app-supplied id the engine locates          | every later event        |
//! | anything else                                  | gap `unknown-id`         |
//!
//! A gap event carries the id of the newest event at that time; live events
//! up to it are skipped, later ones follow.

use std::collections::VecDeque;
use std::sync::Arc;

use super::gap::{gap_event, GapReason};
use super::hub::TopicKey;
use crate::engine::{Engine, Epoch, Offset, Page, Position, Record};
use crate::error::Error;
use crate::event::EncodedEvent;
use crate::metrics::facade::TopicLabel;

/// Records read per engine call at most.
pub(crate) const REPLAY_PAGE: usize = 256;

/// What to read next.
#[derive(Debug)]
pub(crate) enum Plan {
    /// The first page after the client's `Last-Event-ID`.
    First(String),
    /// The next page of the same replay.
    Next { epoch: Epoch, after: Offset },
}

/// One page of a replay, ready to send.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) events: VecDeque<EncodedEvent>,
    /// Live events at or before this offset are covered and skipped.
    pub(crate) through: Offset,
    pub(crate) next: Option<Plan>,
}

/// Reads one step; `None` (logged) when the engine fails: the subscription
/// then ends and the browser reconnects with the same id later.
pub(crate) async fn step(
    engine: Arc<dyn Engine>,
    topic: TopicKey,
    label: TopicLabel,
    plan: Plan,
) -> Option<Step> {
    match read(&*engine, &topic, &label, plan).await {
        Ok(step) => Some(step),
        Err(error) => {
            tracing::warn!(topic = &*topic, %error, "replay failed; ending the subscription");
            None
        }
    }
}

/// Where `last_event_id` points: the epoch it must match (none for `0` and
/// app ids) and the offset after which to read; `None` for an unknown id.
async fn locate(
    engine: &dyn Engine,
    topic: &str,
    last_event_id: &str,
) -> Result<Option<(Option<Epoch>, Offset)>, Error> {
    if last_event_id == "0" {
        return Ok(Some((None, Offset::ZERO)));
    }
    if let Ok(position) = last_event_id.parse::<Position>() {
        return Ok(Some((Some(position.epoch()), position.offset())));
    }
    Ok(engine
        .locate(topic, last_event_id)
        .await?
        .map(|offset| (None, offset)))
}

async fn read(
    engine: &dyn Engine,
    topic: &str,
    label: &TopicLabel,
    plan: Plan,
) -> Result<Step, Error> {
    let (expected, after) = match plan {
        Plan::First(id) => match locate(engine, topic, &id).await? {
            Some(found) => found,
            None => {
                let page = engine.read(topic, Offset::ZERO, 0).await?;
                return Ok(gap(label, GapReason::UnknownId, &page));
            }
        },
        Plan::Next { epoch, after } => (Some(epoch), after),
    };
    let page = engine.read(topic, after, REPLAY_PAGE).await?;
    if expected.is_some_and(|epoch| epoch != page.epoch()) {
        return Ok(gap(label, GapReason::Reset, &page));
    }
    if after > page.head() || !page.covers(after) {
        return Ok(gap(label, GapReason::UnknownId, &page));
    }
    let epoch = page.epoch();
    let head = page.head();
    let records = page.into_records();
    let through = records.last().map_or(after, Record::offset);
    crate::metrics::facade::hub_replayed(label, records.len() as u64);
    // Read on until the head the page reported: an engine may return fewer
    // than asked (it skipped an entry it could not decode), and stopping at
    // a short page would drop the rest without a gap. A page that no longer
    // covers `through` turns into a gap above; an empty one ends the replay.
    let next = (!records.is_empty() && through < head).then_some(Plan::Next {
        epoch,
        after: through,
    });
    Ok(Step {
        events: records.into_iter().map(Record::into_encoded).collect(),
        through,
        next,
    })
}

fn gap(label: &TopicLabel, reason: GapReason, page: &Page) -> Step {
    crate::metrics::facade::hub_gap(label, reason.as_str());
    Step {
        events: VecDeque::from([gap_event(reason, &page.head_id())]),
        through: page.head(),
        next: None,
    }
}
