//! Rate limits: a fixed window per key (a principal's `sub`, or the client address when
//! anonymous) that opens with the key's first request and allows
//! `gateway.rate_limit_per_minute` requests (0 turns limits off). Counted in Redis, so every
//! gateway replica shares the count (one Lua script: INCR, and PEXPIRE on the first hit), or in
//! memory when no Redis URL is configured (single-process mode).
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

/// INCR and set the expiry on the first hit, atomically; returns the count and the window's
/// remaining milliseconds. The PTTL < 0 branch repairs a key that lost its expiry.
const FIXED_WINDOW_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
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
}

impl RedisStore {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Decision {
        let mut conn = self.conn.clone();
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.key(format!("{}{key}", self.key_prefix));
        invocation.arg(window_ms);
        let counted = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            invocation.invoke_async::<(i64, i64)>(&mut conn),
        )
        .await;
        match counted {
            Ok(Ok((count, ttl_ms))) => {
                decide(count, limit, Duration::from_millis(ttl_ms.max(0) as u64))
            }
            Ok(Err(e)) => self.fail_open(&e.to_string()),
            Err(_) => self.fail_open("timed out"),
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
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
