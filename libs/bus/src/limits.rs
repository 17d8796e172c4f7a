//! The numbers both transports share, so they behave alike.

use std::time::Duration;

/// Events are kept this long (limits retention), long enough to rebuild a projection.
pub const EVENTS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Publishing an id again within this window stores it once. Longer than NATS's 2-minute default
/// so that a relay restarted a few minutes after a crash still does not store duplicates (the
/// inbox would make them harmless anyway).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long a delivery may stay unacknowledged before it is delivered again.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// How many messages a NATS subscription pulls ahead. Small, so that messages waiting in the
/// client's buffer do not run out their ack wait, and competing subscriptions share the work.
pub const PULL_BATCH: usize = 16;
