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

/// How long one NATS pull request waits on the server, and so the longest a subscription stays
/// silent after its connection came back before it asks again (the client's 30-second default
/// left a fan-out subscription, and the revocations it carries, deaf for up to a minute).
pub const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The server's sign of life while a pull waits; two missed in a row make the client
/// recreate an ordered (fan-out) consumer from the last sequence it delivered.
pub const PULL_HEARTBEAT: Duration = Duration::from_millis(2_000);

/// How often an idle fan-out subscription looks whether its connection was re-established
/// (and so may have lost a message in flight), to resume after the last one it delivered.
pub const RECONNECT_CHECK: Duration = Duration::from_secs(1);
