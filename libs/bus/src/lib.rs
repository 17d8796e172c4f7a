//! The bus: one interface for events, tasks and request/reply over NATS JetStream or in process, with the transactional outbox, its relay and the idempotent inbox.
