//! The bounded look-up of a `Last-Event-ID` done before a resume opens any
//! stream: one engine read of at most one record, judged by the same epoch
//! and trim rules as the hub's replay, so every engine (an in-memory hub, a
//! Redis hub) refuses a foreign, stale or trimmed id up front.

use crate::channel::Hub;
use crate::engine::{Offset, Position};
use crate::error::Error;

/// Why a resume cannot replay exactly.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The id is not an event of this topic's current history (another
    /// topic's, another epoch's, never issued, or trimmed away).
    UnknownId,
    /// From the start, but the start is no longer stored.
    HistoryLost,
    /// The engine failed.
    Backend(Error),
}

/// Checks that a replay of `topic` after `last` (`None` or `"0"`: from the
/// start) misses nothing, with one engine read of at most one record (on
/// Redis one script round trip; a hostile id costs no more).
pub(crate) async fn check_resume(
    hub: &Hub,
    topic: &str,
    last: Option<&str>,
) -> Result<(), Refusal> {
    let engine = hub.engine();
    let (expected, after) = match last.filter(|id| *id != "0") {
        None => (None, Offset::ZERO),
        Some(id) => match id.parse::<Position>() {
            Ok(position) => (Some(position.epoch()), position.offset()),
            // An id the app supplied, if the engine keeps those.
            Err(_) => match engine.locate(topic, id).await.map_err(Refusal::Backend)? {
                Some(offset) => (None, offset),
                None => return Err(Refusal::UnknownId),
            },
        },
    };
    let page = engine
        .read(topic, after, 1)
        .await
        .map_err(Refusal::Backend)?;
    let refused = if last.is_some_and(|id| id != "0") {
        Refusal::UnknownId
    } else {
        Refusal::HistoryLost
    };
    if expected.is_some_and(|epoch| epoch != page.epoch()) {
        return Err(Refusal::UnknownId);
    }
    if after > page.head() || !page.covers(after) {
        return Err(refused);
    }
    Ok(())
}
