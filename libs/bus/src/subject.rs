//! NATS subject rules, implemented once for both transports: wildcard matching (`*` one token,
//! `>` one or more trailing tokens), overlap of two filters (a work-queue stream refuses two
//! consumers whose filters overlap), validation, and the test prefix that callers never see.

use crate::error::BusError;
use crate::message::StreamKind;

/// Does `subject` (no wildcards) match `filter` (may contain `*` and a trailing `>`)?
pub fn matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(ft), Some(st)) if ft == st => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Does any subject match both filters?
pub fn overlap(a: &str, b: &str) -> bool {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            // `>` needs at least one token on the other side, which it has here.
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some("*"), Some(_)) | (Some(_), Some("*")) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when `s` is a non-empty token made only of characters that are safe everywhere a name
/// ends up: subjects, stream names, consumer names, file names on the server.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_tokens(s: &str, wildcards: bool) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let tokens: Vec<&str> = s.split('.').collect();
    let last = tokens.len() - 1;
    tokens.iter().enumerate().all(|(i, t)| match *t {
        "" => false,
        "*" => wildcards,
        ">" => wildcards && i == last,
        t => !t.contains(['*', '>']),
    })
}

/// The contract namespace of a stream: `zw.evt.` or `zw.task.`.
pub fn namespace(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Events => "zw.evt.",
        StreamKind::Tasks => "zw.task.",
    }
}

/// A subject to publish on: no wildcards, inside the stream's namespace.
pub fn validate_publish(kind: StreamKind, subject: &str) -> Result<(), BusError> {
    let ns = namespace(kind);
    if !check_tokens(subject, false) || !subject.starts_with(ns) || subject.len() == ns.len() {
        return Err(BusError::InvalidSubject(format!(
            "{subject:?} is not a publishable {kind:?} subject (expected {ns}<tokens>, no wildcards)"
        )));
    }
    Ok(())
}

/// A consumer filter: wildcards allowed, inside the stream's namespace.
pub fn validate_filter(kind: StreamKind, filter: &str) -> Result<(), BusError> {
    let ns = namespace(kind);
    if !check_tokens(filter, true) || !filter.starts_with(ns) || filter.len() == ns.len() {
        return Err(BusError::InvalidSubject(format!(
            "{filter:?} is not a {kind:?} filter (expected {ns}<tokens>, `*` and a final `>` allowed)"
        )));
    }
    Ok(())
}

/// A subject to request on or serve: no wildcards.
pub fn validate_rpc(subject: &str) -> Result<(), BusError> {
    if !check_tokens(subject, false) {
        return Err(BusError::InvalidSubject(format!(
            "{subject:?} is not a request subject"
        )));
    }
    Ok(())
}

/// A durable consumer name.
pub fn validate_durable(durable: &str) -> Result<(), BusError> {
    if !is_name(durable) {
        return Err(BusError::InvalidName(format!(
            "durable consumer name {durable:?} must be non-empty and use only A-Z a-z 0-9 - _"
        )));
    }
    Ok(())
}

/// The subject on the wire: `{prefix}.{subject}`, or the subject itself without a prefix.
pub fn with_prefix(prefix: &str, subject: &str) -> String {
    if prefix.is_empty() {
        subject.to_owned()
    } else {
        format!("{prefix}.{subject}")
    }
}

/// The contract subject of a wire subject (the inverse of [`with_prefix`]).
pub fn without_prefix<'a>(prefix: &str, subject: &'a str) -> &'a str {
    if prefix.is_empty() {
        return subject;
    }
    subject
        .strip_prefix(prefix)
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or(subject)
}

/// The JetStream stream name of a kind: `ZW_EVENTS` / `ZW_TASKS`, or `{PREFIX}_ZW_…`.
pub fn stream_name(prefix: &str, kind: StreamKind) -> String {
    let base = match kind {
        StreamKind::Events => "ZW_EVENTS",
        StreamKind::Tasks => "ZW_TASKS",
    };
    if prefix.is_empty() {
        base.to_owned()
    } else {
        format!("{}_{base}", prefix.to_ascii_uppercase().replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_subjects_match_only_themselves() {
        assert!(matches("zw.evt.a.b", "zw.evt.a.b"));
        assert!(!matches("zw.evt.a.b", "zw.evt.a.c"));
        assert!(!matches("zw.evt.a.b", "zw.evt.a"));
        assert!(!matches("zw.evt.a", "zw.evt.a.b"));
    }

    #[test]
    fn star_matches_exactly_one_token() {
        assert!(matches("zw.evt.*.b", "zw.evt.a.b"));
        assert!(!matches("zw.evt.*.b", "zw.evt.a.x.b"));
        assert!(!matches("zw.evt.*", "zw.evt"));
        assert!(matches(
            "zw.evt.440304.*.*.*.declaration.*",
            "zw.evt.440304.008.001.003.declaration.submitted"
        ));
    }

    #[test]
    fn greater_than_matches_one_or_more_trailing_tokens() {
        assert!(matches(
            "zw.evt.440304.008.>",
            "zw.evt.440304.008.001.003.declaration.submitted"
        ));
        assert!(matches("zw.evt.440304.008.>", "zw.evt.440304.008._._.x.y"));
        assert!(!matches(
            "zw.evt.440304.008.>",
            "zw.evt.440304.009.001.003.declaration.submitted"
        ));
        assert!(!matches("zw.evt.440304.008.>", "zw.evt.440304.008"));
        assert!(matches(">", "a"));
    }

    #[test]
    fn overlap_is_symmetric_and_token_wise() {
        let cases = [
            ("zw.task.a.>", "zw.task.a.b", true),
            ("zw.task.a.>", "zw.task.b.>", false),
            ("zw.task.*.x", "zw.task.a.*", true),
            ("zw.task.*.x", "zw.task.a.y", false),
            ("zw.task.a", "zw.task.a.>", false),
            ("zw.task.>", "zw.task.a.b.c", true),
            ("zw.task.a.b", "zw.task.a.b", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlap(a, b), want, "{a} vs {b}");
            assert_eq!(overlap(b, a), want, "{b} vs {a}");
        }
    }

    #[test]
    fn validation_keeps_callers_inside_their_stream() {
        assert!(
            validate_publish(
                StreamKind::Events,
                "zw.evt.440304.008.001.003.declaration.submitted"
            )
            .is_ok()
        );
        assert!(validate_publish(StreamKind::Events, "zw.task.x").is_err());
        assert!(validate_publish(StreamKind::Events, "zw.evt.").is_err());
        assert!(validate_publish(StreamKind::Events, "zw.evt.a..b").is_err());
        assert!(validate_publish(StreamKind::Events, "zw.evt.a.*").is_err());
        assert!(validate_publish(StreamKind::Tasks, "zw.task.grid.verify").is_ok());
        assert!(validate_filter(StreamKind::Events, "zw.evt.440304.008.>").is_ok());
        assert!(validate_filter(StreamKind::Events, "zw.evt.>.x").is_err());
        assert!(validate_filter(StreamKind::Tasks, "zw.evt.>").is_err());
        assert!(validate_durable("street-008_view").is_ok());
        assert!(validate_durable("a.b").is_err());
        assert!(validate_durable("").is_err());
    }

    #[test]
    fn prefix_is_added_and_removed() {
        assert_eq!(with_prefix("", "zw.evt.a"), "zw.evt.a");
        assert_eq!(with_prefix("t1a2b3c", "zw.evt.a"), "t1a2b3c.zw.evt.a");
        assert_eq!(without_prefix("t1a2b3c", "t1a2b3c.zw.evt.a"), "zw.evt.a");
        assert_eq!(without_prefix("", "zw.evt.a"), "zw.evt.a");
        assert_eq!(stream_name("", StreamKind::Events), "ZW_EVENTS");
        assert_eq!(
            stream_name("t1a2b3c", StreamKind::Tasks),
            "T1A2B3C_ZW_TASKS"
        );
    }
}
