//! W3C trace context (`traceparent`) carried across the bus.
//!
//! The value is scoped to a task with [`scope`]: the consumer loop ([`crate::inbox`]) scopes each
//! handler call with the `traceparent` header of the delivery, and an HTTP middleware may do the
//! same with the incoming request's header. Inside a scope, [`crate::outbox::enqueue`] and
//! [`crate::Bus::request`] attach it to what they send, so a trace follows an event chain without
//! every caller passing headers around. This is task-local, not global: concurrent tasks (and
//! tests) never see each other's value.

use std::future::Future;

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

tokio::task_local! {
    static CURRENT: Option<String>;
}

/// Run `fut` with `traceparent` as the current trace context.
pub async fn scope<F: Future>(traceparent: Option<String>, fut: F) -> F::Output {
    CURRENT.scope(traceparent, fut).await
}

/// The current task's `traceparent`, if it runs inside a [`scope`] that has one.
pub fn traceparent() -> Option<String> {
    CURRENT.try_with(|tp| tp.clone()).ok().flatten()
}

/// `headers` plus the current `traceparent`, unless they already carry one.
pub(crate) fn with_current(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    let has = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(TRACEPARENT));
    if !has && let Some(tp) = traceparent() {
        out.push((TRACEPARENT.to_owned(), tp));
    }
    out
}
