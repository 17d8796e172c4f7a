//! Rate limits: a fixed window per key (a principal's `sub`, or the client address when
//! anonymous) that opens with the key's first request and allows
//! `gateway.rate_limit_per_minute` requests (0 turns limits off). Counted in Redis, so every
//! gateway replica shares the count (one Lua script: INCR, and PEXPIRE on the first hit), or in
//! memory when no Redis URL is configured (single-process mode).
//!
//! **Leases.** A replica takes a key's permits from Redis a few at a time: one Redis call counts
//! a lease of [`lease_size`] requests (1 % of the limit, at least 1, at most 100), which the
//! replica then lets through on its own until the lease is spent or the window ends. So a busy
//! principal costs one Redis round trip per lease, not per request, and the shared count still
//! never lets more than the limit through: a lease is counted in Redis when it is taken. What a
//! replica holds unspent is lost to the others for that window, so with R replicas a principal
//! spread over all of them may be refused up to R × (lease − 1) requests early; limits under
//! 200 a window take leases of one, exact. A refusal is remembered until the window ends (the
//! count of a fixed window only grows), so a flood of refused requests costs Redis nothing.
//!
//! **Redis down → fail open.** When Redis cannot be reached (or answers too slowly), the request
//! is let through and a warning is logged (at most every few seconds) and counted in the
//! `zw_gateway_ratelimit_failures_total` metric. Rate limiting protects the services from abuse;
//! refusing every citizen and department because the counter store is down would take the whole
//! district offline for a dependency that holds no data of record. Abuse during a Redis outage is
//! still bounded by each service's own checks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::IntCounter;
use redis::aio::ConnectionManager;

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Under the limit (or limits are off, or the store failed and we fail open).
    Allow,
    /// Over the limit; try again after this long.
    Deny {
        /// Time until the window resets.
        retry_after: Duration,
    },
}

/// Counts requests per key in fixed windows.
#[derive(Clone)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Off,
    Memory(std::sync::Arc<MemoryStore>),
    Redis(std::sync::Arc<RedisStore>),
}

impl RateLimiter {
    /// No limit at all (`rate_limit_per_minute = 0`).
    pub fn off() -> Self {
        Self {
            limit: 0,
            window: Duration::from_secs(60),
            store: Store::Off,
        }
    }

    /// Counted in this process only.
    pub fn memory(limit: u32, window: Duration) -> Self {
        if limit == 0 {
            return Self::off();
        }
        Self {
            limit,
            window,
            store: Store::Memory(std::sync::Arc::new(MemoryStore::default())),
        }
    }

    /// Counted in Redis at `url`, keys under `<key_prefix>:gateway:ratelimit:`. Connects lazily
    /// (the gateway starts while Redis is down, and reconnects when it is back).
    pub fn redis(
        limit: u32,
        window: Duration,
        url: &str,
        key_prefix: &str,
        failures: IntCounter,
    ) -> anyhow::Result<Self> {
        // Built even when the limit is 0 (off), so readiness still reports a configured Redis.
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let store = RedisStore {
            conn,
            key_prefix: format!("{key_prefix}:gateway:ratelimit:"),
            script: redis::Script::new(FIXED_WINDOW_LUA),
            failures,
            last_warning: AtomicU64::new(0),
            leases: Mutex::new(Leases::default()),
        };
        Ok(Self {
            limit,
            window,
            store: Store::Redis(std::sync::Arc::new(store)),
        })
    }

    /// The limit per window (0: off).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Count one request for `key` and decide.
    pub async fn check(&self, key: &str) -> Decision {
        if self.limit == 0 {
            return Decision::Allow;
        }
        match &self.store {
            Store::Off => Decision::Allow,
            Store::Memory(m) => m.check(key, self.limit, self.window, Instant::now()),
            Store::Redis(r) => r.check(key, self.limit, self.window).await,
        }
    }

    /// Whether the counter store answers (always true unless it is Redis).
    pub async fn ping(&self) -> Result<(), String> {
        match &self.store {
            Store::Off | Store::Memory(_) => Ok(()),
            Store::Redis(r) => r.ping().await,
        }
    }
}

/// Each Redis call gets at most this long before we fail open.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// At most one "Redis is down" warning in this many seconds.
const WARN_EVERY_SECS: u64 = 10;

/// Count a lease of `ARGV[2]` requests and set the window's expiry (`ARGV[1]` ms) when the key is
/// new, atomically; returns the count and the window's remaining milliseconds. The PTTL < 0
/// branch repairs a key that lost its expiry.
const FIXED_WINDOW_LUA: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

struct RedisStore {
    conn: ConnectionManager,
    key_prefix: String,
    script: redis::Script,
    failures: IntCounter,
    last_warning: AtomicU64,
    leases: Mutex<Leases>,
}

/// What this replica holds of each key's window: permits taken from Redis and not spent yet, or
/// a refusal until the window ends.
#[derive(Default)]
struct Leases {
    held: HashMap<String, Lease>,
    /// No sweep before this (as for [`MemoryInner`]).
    next_sweep: Option<Instant>,
}

struct Lease {
    /// Permits left; 0: refused until the window ends (a spent lease is removed).
    left: u32,
    ends_at: Instant,
}

/// Requests one Redis call takes for a key: 1 % of the limit, at least 1, at most 100.
pub fn lease_size(limit: u32) -> u32 {
    (limit / 100).clamp(1, 100)
}

impl RedisStore {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Decision {
        if let Some(decision) = self.from_lease(key, Instant::now()) {
            return decision;
        }
        let lease = lease_size(limit);
        let mut conn = self.conn.clone();
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.key(format!("{}{key}", self.key_prefix));
        invocation.arg(window_ms).arg(lease);
        let counted = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            invocation.invoke_async::<(i64, i64)>(&mut conn),
        )
        .await;
        match counted {
            Ok(Ok((count, ttl_ms))) => {
                let remaining = Duration::from_millis(ttl_ms.max(0) as u64);
                // The permits of this lease still under the limit: those counted before it
                // are `count - lease`.
                let before = count - i64::from(lease);
                let granted = (i64::from(limit) - before).clamp(0, i64::from(lease)) as u32;
                self.hold(
                    key,
                    granted.saturating_sub(1),
                    granted == 0,
                    Instant::now() + remaining,
                );
                if granted == 0 {
                    Decision::Deny {
                        retry_after: remaining,
                    }
                } else {
                    Decision::Allow
                }
            }
            Ok(Err(e)) => self.fail_open(&e.to_string()),
            Err(_) => self.fail_open("timed out"),
        }
    }

    /// Decide from what this replica holds of `key`'s window, if it holds anything.
    fn from_lease(&self, key: &str, now: Instant) -> Option<Decision> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let lease = leases.held.get_mut(key)?;
        if lease.ends_at <= now {
            leases.held.remove(key);
            return None;
        }
        if lease.left == 0 {
            return Some(Decision::Deny {
                retry_after: lease.ends_at.saturating_duration_since(now),
            });
        }
        lease.left -= 1;
        if lease.left == 0 {
            // Spent, not refused: the next request takes a new lease.
            leases.held.remove(key);
        }
        Some(Decision::Allow)
    }

    /// Keep `left` permits of `key` until `ends_at` (a refusal when `refused`), added to what is
    /// held of the same window.
    fn hold(&self, key: &str, left: u32, refused: bool, ends_at: Instant) {
        if left == 0 && !refused {
            return;
        }
        let now = Instant::now();
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let Leases { held, next_sweep } = &mut *leases;
        if held.len() >= SWEEP_AT && next_sweep.is_none_or(|t| now >= t) {
            held.retain(|_, l| l.ends_at > now);
            *next_sweep = Some(now + SWEEP_EVERY);
        }
        match held.get_mut(key) {
            Some(lease) if lease.ends_at > now && !refused => {
                lease.left = lease.left.saturating_add(left);
                lease.ends_at = lease.ends_at.min(ends_at);
            }
            _ => {
                held.insert(key.to_owned(), Lease { left, ends_at });
            }
        }
    }

    fn fail_open(&self, error: &str) -> Decision {
        self.failures.inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error,
                "rate limit store (Redis) unavailable: letting requests through unlimited"
            );
        }
        Decision::Allow
    }

    async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let pong = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match pong {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

fn decide(count: i64, limit: u32, remaining: Duration) -> Decision {
    if count <= i64::from(limit) {
        Decision::Allow
    } else {
        Decision::Deny {
            retry_after: remaining,
        }
    }
}

/// The in-process counters: one window per key, swept of expired windows as it grows.
#[derive(Default)]
struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    windows: HashMap<String, Window>,
    /// No sweep before this (a sweep walks every key: at most once a second).
    next_sweep: Option<Instant>,
}

struct Window {
    count: u32,
    resets_at: Instant,
}

/// Sweep expired windows when the map holds more than this many keys.
const SWEEP_AT: usize = 10_000;
/// And at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl MemoryStore {
    fn check(&self, key: &str, limit: u32, window: Duration, now: Instant) -> Decision {
        // A poisoned lock only means another request panicked mid-count; the counts are still
        // usable.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let MemoryInner {
            windows,
            next_sweep,
        } = &mut *inner;
        if windows.len() >= SWEEP_AT && next_sweep.is_none_or(|t| now >= t) {
            windows.retain(|_, w| w.resets_at > now);
            *next_sweep = Some(now + SWEEP_EVERY);
        }
        let w = windows.entry(key.to_owned()).or_insert_with(|| Window {
            count: 0,
            resets_at: now + window,
        });
        if w.resets_at <= now {
            *w = Window {
                count: 0,
                resets_at: now + window,
            };
        }
        w.count = w.count.saturating_add(1);
        decide(
            i64::from(w.count),
            limit,
            w.resets_at.saturating_duration_since(now),
        )
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_denies_past_the_limit_until_the_window_resets() {
        let store = MemoryStore::default();
        let start = Instant::now();
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(store.check("a", 3, window, start), Decision::Allow);
        }
        assert!(matches!(
            store.check("a", 3, window, start),
            Decision::Deny { .. }
        ));
        assert_eq!(
            store.check("b", 3, window, start),
            Decision::Allow,
            "keys are separate"
        );
        let later = start + window;
        assert_eq!(
            store.check("a", 3, window, later),
            Decision::Allow,
            "a new window"
        );
    }

    #[test]
    fn leases_are_one_percent_of_the_limit_between_one_and_a_hundred() {
        assert_eq!(lease_size(3), 1);
        assert_eq!(lease_size(199), 1);
        assert_eq!(lease_size(600), 6);
        assert_eq!(lease_size(1_000_000), 100);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
