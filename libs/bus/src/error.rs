//! The one error type of the bus.

use zw_contracts::rpc::RpcError;

/// Everything that can go wrong on the bus. Messages name what failed and, where it helps, what
/// to do about it; they never contain message payloads (which may hold personal data).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The NATS server cannot be reached (connect failed, or the connection is down).
    #[error("the NATS server is unreachable: {0}")]
    Unreachable(String),
    /// The NATS server is older than 2.10: it would silently ignore consumer subject filters.
    #[error(
        "the NATS server runs version {version}, but Zhiwang needs NATS 2.10 or newer \
         (older servers ignore consumer subject filters); upgrade the server"
    )]
    ServerTooOld {
        /// The version the server reported.
        version: String,
    },
    /// A request got no reply within the configured timeout.
    #[error("the request timed out without a reply")]
    Timeout,
    /// Nobody serves the requested subject (no server is running, or none is connected).
    #[error("no service is serving this request (no responders)")]
    NoResponders,
    /// The serving side answered with an error.
    #[error("the remote service failed: {} ({})", .0.message, .0.code)]
    Remote(RpcError),
    /// A request, reply or message body could not be encoded or decoded.
    #[error("cannot encode or decode a message: {0}")]
    Codec(String),
    /// A subject or filter breaks the contract (wrong namespace, wildcards where none are allowed).
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// A prefix, durable name or header name is not acceptable.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// Creating or updating a stream or consumer failed.
    #[error("cannot set up the bus: {0}")]
    Setup(String),
    /// The server did not store a published message.
    #[error("publish failed: {0}")]
    Publish(String),
    /// Receiving from a consumer failed (the subscription may recover on its own).
    #[error("receiving from the consumer failed: {0}")]
    Consume(String),
    /// Acknowledging a delivery failed; the message will be redelivered.
    #[error("acknowledging a message failed: {0}")]
    Ack(String),
    /// Any other transport failure.
    #[error("bus transport error: {0}")]
    Transport(String),
}

impl BusError {
    /// Worth retrying later (the server may come back), as opposed to a caller's mistake.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BusError::Unreachable(_)
                | BusError::Timeout
                | BusError::NoResponders
                | BusError::Publish(_)
                | BusError::Consume(_)
                | BusError::Ack(_)
                | BusError::Transport(_)
        )
    }
}
