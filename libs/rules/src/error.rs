//! What is wrong with a rule set document: every problem found, each with where it is.

use std::fmt;

use serde::Serialize;

/// The kind of problem (stable, snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not the shape of a rule set document (missing `rules`, an unknown key, an
    /// unknown `kind`, a rule or example of the wrong shape, which `at` then points to). Reported
    /// alone: nothing further can be checked.
    Malformed,
    EmptyId,
    /// An id that is not 1–64 of `A-Z a-z 0-9 _ . -`.
    BadId,
    DuplicateId,
    UnknownOp,
    /// A fact that is not in [`crate::KNOWN_FACTS`].
    UnknownFact,
    /// A condition of the wrong shape, or an operand that does not fit its op.
    BadCondition,
    /// A collection rule's `then` that is not one of the actions.
    BadAction,
    BadColour,
    /// An empty or missing `level`.
    BadLevel,
    /// A classification set without `default`.
    MissingDefault,
    /// A collection set with `default`, which only classifications have.
    UnexpectedDefault,
    /// Something else wrong with a rule (e.g. `on` in a classification, an empty change name).
    BadRule,
    /// An example of the wrong shape.
    BadExample,
    DuplicateExample,
    /// An example whose rules do not produce exactly its expectation.
    ExampleFailed,
}

/// One problem of a rule set document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSetError {
    pub code: ErrorCode,
    /// JSON pointer into the document (`/rules/2/when/all/0/op`); empty for the whole document.
    pub at: String,
    pub message: String,
}

impl RuleSetError {
    pub fn new(code: ErrorCode, at: &str, message: impl Into<String>) -> Self {
        RuleSetError {
            code,
            at: at.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for RuleSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl std::error::Error for RuleSetError {}
