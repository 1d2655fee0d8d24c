//! The server-side Lua scripts of the backend (Redis 7 runs them atomically;
//! redis-rs sends `EVALSHA` and loads a script on `NOSCRIPT`). Every script
//! touches only the keys of one topic, which share one hash tag.

use std::sync::LazyLock;

use redis::Script;

/// Publish. `KEYS`: stream, epoch, sequence, and the idempotency key when
/// there is one. `ARGV`: a freshly minted epoch, `MAXLEN`, the idempotency window in
/// ms, then the entry's field/value pairs. Returns `{id, epoch, duplicate}`.
///
/// - A remembered idempotency key answers with the first publish's id and
///   epoch and stores nothing.
/// - A missing stream (new topic, or Redis lost it) or a missing or foreign
///   epoch gets the minted epoch: a recreated stream is a new history.
///   Except an epoch with an expiry: [`ENSURE_EPOCH`] stored it for a topic
///   without a stream, so no event carries it and no id of it names a lost
///   event; the stream it now starts keeps it (without the expiry), so
///   positions taken while the topic was empty resume exactly. An epoch
///   stored by a publish or a re-mint has no expiry: a stream lost after it
///   had events still gets a new one.
/// - The entry carries its epoch (`x`) and its number in the epoch (`n`,
///   counted by the sequence key), so readers never have to look them up
///   and notice a rewind as a number that does not follow.
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[2])
if KEYS[4] then
  local seen = redis.call('GET', KEYS[4])
  if seen then
    local sep = string.find(seen, ' ', 1, true)
    if sep then
      return {string.sub(seen, 1, sep - 1), string.sub(seen, sep + 1), 1}
    end
  end
end
local valid = epoch and #epoch <= 16 and string.match(epoch, '^[%w_]+$')
if redis.call('EXISTS', KEYS[1]) == 0 then
  if valid and redis.call('PTTL', KEYS[2]) >= 0 then
    redis.call('PERSIST', KEYS[2])
  else
    epoch = ARGV[1]
    redis.call('SET', KEYS[2], epoch)
  end
  redis.call('SET', KEYS[3], 0)
elseif not valid then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[3], 0)
end
local n = redis.call('INCR', KEYS[3])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'x', epoch, 'n', n, unpack(ARGV, 4))
if KEYS[4] then
  redis.call('SET', KEYS[4], id .. ' ' .. epoch, 'PX', ARGV[3])
end
return {id, epoch, 0}
",
    )
});

/// The epoch of a topic, stored for a topic without a stream. `KEYS`:
/// stream, epoch. `ARGV`: a freshly minted epoch, the expiry in ms. Returns
/// the epoch (nil for a stream without one: its next publish mints it).
///
/// - A stream exists: its epoch, untouched.
/// - No stream, an epoch with an expiry (stored here before): renewed.
/// - No stream, an epoch without one (the stream was lost after it had
///   events): untouched; the next publish mints a new one.
/// - No stream, no epoch: the minted one, stored with the expiry, which
///   bounds what asking about many never-used topics leaves in Redis.
pub(crate) static ENSURE_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return epoch
end
if epoch then
  if redis.call('PTTL', KEYS[2]) >= 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  return epoch
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
",
    )
});

/// One replay page, read atomically with the trim state it is judged by.
/// `KEYS`: stream, epoch. `ARGV`: first id (inclusive, or `-`), `COUNT`.
/// Returns `{epoch or nil, XINFO STREAM or nil, entries}`.
pub(crate) static REPLAY_PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {epoch, false, {}}
end
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
return {epoch, redis.call('XINFO', 'STREAM', KEYS[1]), entries}
",
    )
});

/// Compare-and-set of the epoch after a rewind was seen. `KEYS`: epoch,
/// sequence. `ARGV`: the epoch the rewind was seen in, a freshly minted
/// one. Returns the epoch now stored (nil when there is none).
pub(crate) static REMINT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1])
if epoch == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], 0)
  return ARGV[2]
end
return epoch
",
    )
});
