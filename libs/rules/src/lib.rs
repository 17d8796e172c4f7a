//! Rules embedded in collection (智能嵌入), as data: a rule set is a JSON document, validated
//! once ([`RuleSet::parse`]) — including its own examples, which must all come out as written —
//! and then evaluated on flat facts. Pure: no I/O, no clock; storing and versioning rule sets is
//! the grid service's business.
//!
//! ```json
//! {"kind": "collection", "description": "…",
//!  "rules": [{"id": "elderly_allowance", "description": "…", "on": ["born", "moved_in"],
//!             "when": {"fact": "person.age", "op": "gte", "value": 80},
//!             "then": {"case": {"type": "elderly_allowance", "recipient": "civil_affairs"}}}],
//!  "examples": [{"name": "turns 80", "change": "moved_in", "facts": {"person.age": 80},
//!                "expect": ["elderly_allowance"]}]}
//! ```
//!
//! - Facts are a flat JSON object with dotted keys; rules may only name [`KNOWN_FACTS`], so a
//!   typo is an error when the set is stored, not a rule that silently never fires.
//! - Conditions ([`Condition`]): `all`, `any`, `not`, and comparisons with the ops eq, ne, gt,
//!   gte, lt, lte, in, exists, against a `value` or another fact (`fact_value`). A missing fact
//!   or a type mismatch makes a comparison false (see [`condition`]).
//! - `collection` sets: every rule whose `on` lists the change (or whose `on` is empty) and whose
//!   `when` holds fires its action ([`Action`]); [`RuleSet::evaluate`].
//! - `classification` sets: the first rule (in order) whose `when` holds gives the class, else
//!   `default` (required); [`RuleSet::classify`].

pub mod condition;
mod error;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use condition::{Comparison, Condition, Op, Operand};
pub use error::{ErrorCode, RuleSetError};

/// The facts rules may read. Callers may pass others (they are ignored); rules may not name them.
pub const KNOWN_FACTS: &[&str] = &[
    // years, integer
    "person.age",
    // alive, deceased, moved_out …
    "person.status",
    // planned, built, in_use, rented, demolished …
    "house.status",
    // the status before this change (absent for a new house)
    "house.previous_status",
    // people living there, counted after the change
    "house.residents",
    // how many may live there
    "house.registered_size",
    "house.open_incidents",
    "house.pending_declarations",
    // false for an illegal building
    "house.legal",
    // residential, commercial, …
    "house.category",
    // true when the last census did not see it
    "house.not_seen",
];

/// Whether rules may name `name`.
pub fn is_known_fact(name: &str) -> bool {
    KNOWN_FACTS.contains(&name)
}

/// What a rule set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Rules evaluated on each change of a record, raising cases, reminders and tasks.
    Collection,
    /// Rules giving a house its class level and colour (分类分级分色).
    Classification,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Collection, Kind::Classification];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Collection => "collection",
            Kind::Classification => "classification",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The colour of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Colour> {
        [Colour::Green, Colour::Yellow, Colour::Red]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A class: its level (e.g. `key`, `attention`, `normal`) and colour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Class {
    pub level: String,
    pub colour: Colour,
}

/// A case or a reminder: its type and who it goes to (a department, or a party like `landlord`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    #[serde(rename = "type")]
    pub case_type: String,
    pub recipient: String,
}

/// A verification task for the grid worker, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAction {
    pub reason: String,
}

/// What a collection rule does when it fires; written as in the document
/// (`{"case": {"type": …, "recipient": …}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Case(Notice),
    Reminder(Notice),
    VerificationTask(TaskAction),
}

impl Action {
    /// `case`, `reminder` or `verification_task`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Case(_) => "case",
            Action::Reminder(_) => "reminder",
            Action::VerificationTask(_) => "verification_task",
        }
    }

    /// The case or reminder type; a task's reason.
    pub fn case_type(&self) -> &str {
        match self {
            Action::Case(n) | Action::Reminder(n) => &n.case_type,
            Action::VerificationTask(t) => &t.reason,
        }
    }

    /// Who it is for: a task is always for the grid worker.
    pub fn recipient(&self) -> &str {
        match self {
            Action::Case(n) | Action::Reminder(n) => &n.recipient,
            Action::VerificationTask(_) => "grid_worker",
        }
    }
}

/// What a rule gives when it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Action(Action),
    Class(Class),
}

/// One rule, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub description: String,
    /// The changes that trigger it; empty for any (collection only).
    pub on: Vec<String>,
    pub when: Condition,
    pub then: Then,
}

/// A rule that fired, and its action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firing {
    pub rule_id: String,
    pub action: Action,
}

/// What an example expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The ids of the rules that fire (in any order).
    Fires(Vec<String>),
    Class(Class),
}

/// An example the rule set is tested by.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub name: String,
    pub change: Option<String>,
    pub facts: Value,
    pub expect: Expectation,
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    kind: Kind,
    description: String,
    rules: Vec<Rule>,
    default: Option<Class>,
    examples: Vec<Example>,
    document: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    kind: Kind,
    #[serde(default)]
    description: String,
    rules: Vec<RawRule>,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    examples: Vec<RawExample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    on: Vec<String>,
    when: Value,
    then: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExample {
    name: String,
    #[serde(default)]
    change: Option<String>,
    facts: serde_json::Map<String, Value>,
    expect: Value,
}

fn valid_id(id: &str) -> bool {
    id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `{"level": …, "colour": …}` at `at`.
fn parse_class(v: &Value, at: &str, errors: &mut Vec<RuleSetError>) -> Option<Class> {
    let Some(obj) = v.as_object() else {
        errors.push(RuleSetError::new(
            ErrorCode::BadAction,
            at,
            "a class is {\"level\": …, \"colour\": …}",
        ));
        return None;
    };
    let before = errors.len();
    for key in obj.keys() {
        if key != "level" && key != "colour" {
            errors.push(RuleSetError::new(
                ErrorCode::BadAction,
                at,
                format!("unknown key `{key}` in a class (level, colour)"),
            ));
        }
    }
    let level = match obj.get("level").and_then(Value::as_str).map(str::trim) {
        Some(l) if !l.is_empty() => Some(l.to_owned()),
        _ => {
            errors.push(RuleSetError::new(
                ErrorCode::BadLevel,
                &format!("{at}/level"),
                "`level` is a non-empty string",
            ));
            None
        }
    };
    let colour = match obj.get("colour") {
        Some(Value::String(c)) => Colour::parse(c).or_else(|| {
            errors.push(RuleSetError::new(
                ErrorCode::BadColour,
                &format!("{at}/colour"),
                format!("colour `{c}` is not green, yellow or red"),
            ));
            None
        }),
        _ => {
            errors.push(RuleSetError::new(
                ErrorCode::BadColour,
                &format!("{at}/colour"),
                "`colour` is green, yellow or red",
            ));
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Class {
        level: level?,
        colour: colour?,
    })
}

fn parse_action(v: &Value, at: &str, errors: &mut Vec<RuleSetError>) -> Option<Action> {
    let action = match serde_json::from_value::<Action>(v.clone()) {
        Ok(a) => a,
        Err(e) => {
            errors.push(RuleSetError::new(
                ErrorCode::BadAction,
                at,
                format!(
                    "an action is {{\"case\": {{\"type\", \"recipient\"}}}}, {{\"reminder\": {{\"type\", \"recipient\"}}}} or {{\"verification_task\": {{\"reason\"}}}}: {e}"
                ),
            ));
            return None;
        }
    };
    let empty = match &action {
        Action::Case(n) | Action::Reminder(n) => {
            n.case_type.trim().is_empty() || n.recipient.trim().is_empty()
        }
        Action::VerificationTask(t) => t.reason.trim().is_empty(),
    };
    // These names end up in case rows and events: same alphabet as rule ids.
    let bad_name = !valid_id(action.case_type()) || !valid_id(action.recipient());
    if empty || bad_name {
        errors.push(RuleSetError::new(
            ErrorCode::BadAction,
            at,
            "type, recipient and reason are 1–64 of A-Z a-z 0-9 _ . -",
        ));
        return None;
    }
    Some(action)
}

/// Where a document that is not of the shape of a rule set first goes wrong, when it is one
/// part of it (`/kind`, `/description`, `/rules/3`, `/examples/0`), and what is wrong there; `None`
/// when it is the document as a whole (not an object, an unknown or missing key).
fn malformed_part(document: &Value) -> Option<(String, serde_json::Error)> {
    fn check<T: serde::de::DeserializeOwned>(
        v: &Value,
        at: String,
    ) -> Option<(String, serde_json::Error)> {
        serde_json::from_value::<T>(v.clone())
            .err()
            .map(|e| (at, e))
    }
    fn each<T: serde::de::DeserializeOwned>(
        document: &Value,
        key: &str,
    ) -> Option<(String, serde_json::Error)> {
        let v = document.get(key)?;
        match v.as_array() {
            Some(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| check::<T>(item, format!("/{key}/{i}"))),
            None => check::<Vec<T>>(v, format!("/{key}")),
        }
    }
    let obj = document.as_object()?;
    obj.get("kind")
        .and_then(|k| check::<Kind>(k, "/kind".into()))
        .or_else(|| {
            obj.get("description")
                .and_then(|d| check::<String>(d, "/description".into()))
        })
        .or_else(|| each::<RawRule>(document, "rules"))
        .or_else(|| each::<RawExample>(document, "examples"))
}

/// `[a, b]` for messages.
fn list(ids: &[String]) -> String {
    format!("[{}]", ids.join(", "))
}

impl RuleSet {
    /// Parse and validate a rule set document. Every problem is reported (not just the first),
    /// except that a document of the wrong shape is reported alone, and the examples are only run
    /// when the rules themselves are valid.
    pub fn parse(json: &str) -> Result<RuleSet, Vec<RuleSetError>> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            vec![RuleSetError::new(
                ErrorCode::Malformed,
                "",
                format!("not JSON: {e}"),
            )]
        })?;
        RuleSet::from_value(value)
    }

    /// [`RuleSet::parse`] of a document already parsed as JSON.
    pub fn from_value(document: Value) -> Result<RuleSet, Vec<RuleSetError>> {
        let raw: RawSet = serde_json::from_value(document.clone()).map_err(|e| {
            let (at, e) = malformed_part(&document).unwrap_or((String::new(), e));
            vec![RuleSetError::new(
                ErrorCode::Malformed,
                &at,
                format!("not a rule set document: {e}"),
            )]
        })?;
        let mut errors = Vec::new();
        let kind = raw.kind;

        let mut seen = HashSet::new();
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let at = format!("/rules/{i}");
            let before = errors.len();
            let id = r.id.trim().to_owned();
            if id.is_empty() {
                errors.push(RuleSetError::new(
                    ErrorCode::EmptyId,
                    &format!("{at}/id"),
                    "a rule needs an id",
                ));
            } else if !valid_id(&id) {
                errors.push(RuleSetError::new(
                    ErrorCode::BadId,
                    &format!("{at}/id"),
                    format!("rule id `{id}` is not 1–64 of A-Z a-z 0-9 _ . -"),
                ));
            } else if !seen.insert(id.clone()) {
                errors.push(RuleSetError::new(
                    ErrorCode::DuplicateId,
                    &format!("{at}/id"),
                    format!("rule id `{id}` is used twice"),
                ));
            }
            if kind == Kind::Classification && !r.on.is_empty() {
                errors.push(RuleSetError::new(
                    ErrorCode::BadRule,
                    &format!("{at}/on"),
                    "classification rules apply to every house: no `on`",
                ));
            }
            for (j, change) in r.on.iter().enumerate() {
                if change.trim().is_empty() {
                    errors.push(RuleSetError::new(
                        ErrorCode::BadRule,
                        &format!("{at}/on/{j}"),
                        "a change name is not empty",
                    ));
                }
            }
            let when = condition::compile(&r.when, &format!("{at}/when"), &mut errors);
            let then_at = format!("{at}/then");
            let then = match kind {
                Kind::Collection => parse_action(&r.then, &then_at, &mut errors).map(Then::Action),
                Kind::Classification => {
                    parse_class(&r.then, &then_at, &mut errors).map(Then::Class)
                }
            };
            if let (Some(when), Some(then), true) = (when, then, errors.len() == before) {
                rules.push(Rule {
                    id,
                    description: r.description,
                    on: r.on.iter().map(|c| c.trim().to_owned()).collect(),
                    when,
                    then,
                });
            }
        }

        let default = match (kind, &raw.default) {
            (Kind::Classification, None) => {
                errors.push(RuleSetError::new(
                    ErrorCode::MissingDefault,
                    "/default",
                    "a classification needs a default class for houses no rule matches",
                ));
                None
            }
            (Kind::Classification, Some(d)) => parse_class(d, "/default", &mut errors),
            (Kind::Collection, Some(_)) => {
                errors.push(RuleSetError::new(
                    ErrorCode::UnexpectedDefault,
                    "/default",
                    "only classifications have a default",
                ));
                None
            }
            (Kind::Collection, None) => None,
        };

        let mut names = HashSet::new();
        let mut examples = Vec::new();
        for (i, e) in raw.examples.into_iter().enumerate() {
            let at = format!("/examples/{i}");
            let before = errors.len();
            let name = e.name.trim().to_owned();
            if name.is_empty() {
                errors.push(RuleSetError::new(
                    ErrorCode::BadExample,
                    &format!("{at}/name"),
                    "an example needs a name",
                ));
            } else if !names.insert(name.clone()) {
                errors.push(RuleSetError::new(
                    ErrorCode::DuplicateExample,
                    &format!("{at}/name"),
                    format!("example name `{name}` is used twice"),
                ));
            }
            for key in e.facts.keys() {
                if !is_known_fact(key) {
                    errors.push(RuleSetError::new(
                        ErrorCode::UnknownFact,
                        &format!("{at}/facts"),
                        format!("example `{name}`: unknown fact `{key}`"),
                    ));
                }
            }
            let expect = match kind {
                Kind::Collection => {
                    if e.change.as_deref().is_none_or(|c| c.trim().is_empty()) {
                        errors.push(RuleSetError::new(
                            ErrorCode::BadExample,
                            &format!("{at}/change"),
                            format!("example `{name}`: a collection example names its change"),
                        ));
                    }
                    match serde_json::from_value::<Vec<String>>(e.expect.clone()) {
                        Ok(ids) => Some(Expectation::Fires(ids)),
                        Err(_) => {
                            errors.push(RuleSetError::new(
                                ErrorCode::BadExample,
                                &format!("{at}/expect"),
                                format!(
                                    "example `{name}`: a collection example expects the ids of the rules that fire"
                                ),
                            ));
                            None
                        }
                    }
                }
                Kind::Classification => {
                    parse_class(&e.expect, &format!("{at}/expect"), &mut errors)
                        .map(Expectation::Class)
                }
            };
            if let (Some(expect), true) = (expect, errors.len() == before) {
                examples.push(Example {
                    name,
                    change: e.change.map(|c| c.trim().to_owned()),
                    facts: Value::Object(e.facts),
                    expect,
                });
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let set = RuleSet {
            kind,
            description: raw.description,
            rules,
            default,
            examples,
            document,
        };
        let failures = set.check_examples();
        if failures.is_empty() {
            Ok(set)
        } else {
            Err(failures)
        }
    }

    /// Run every example; one error per example that does not come out exactly as expected.
    fn check_examples(&self) -> Vec<RuleSetError> {
        let mut errors = Vec::new();
        for (i, e) in self.examples.iter().enumerate() {
            let at = format!("/examples/{i}");
            match &e.expect {
                Expectation::Fires(expected) => {
                    let change = e.change.as_deref().unwrap_or_default();
                    let got: Vec<String> = self
                        .evaluate(change, &e.facts)
                        .into_iter()
                        .map(|f| f.rule_id)
                        .collect();
                    let (mut want, mut have) = (expected.clone(), got.clone());
                    want.sort();
                    have.sort();
                    if want != have {
                        errors.push(RuleSetError::new(
                            ErrorCode::ExampleFailed,
                            &at,
                            format!(
                                "example `{}` expects {} to fire but got {}",
                                e.name,
                                list(expected),
                                list(&got)
                            ),
                        ));
                    }
                }
                Expectation::Class(expected) => {
                    let got = self.classify(&e.facts);
                    if got.as_ref() != Some(expected) {
                        let got = got.map_or_else(
                            || "no class".to_owned(),
                            |c| format!("{}/{}", c.level, c.colour.as_str()),
                        );
                        errors.push(RuleSetError::new(
                            ErrorCode::ExampleFailed,
                            &at,
                            format!(
                                "example `{}` expects {}/{} but got {got}",
                                e.name,
                                expected.level,
                                expected.colour.as_str()
                            ),
                        ));
                    }
                }
            }
        }
        errors
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// A classification's default class.
    pub fn default_class(&self) -> Option<&Class> {
        self.default.as_ref()
    }

    /// The document as it was given (to store and to show).
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The collection rules that fire on `change` with `facts`, in rule order (nothing for a
    /// classification set).
    pub fn evaluate(&self, change: &str, facts: &Value) -> Vec<Firing> {
        self.rules
            .iter()
            .filter(|r| r.on.is_empty() || r.on.iter().any(|c| c == change))
            .filter(|r| r.when.matches(facts))
            .filter_map(|r| match &r.then {
                Then::Action(a) => Some(Firing {
                    rule_id: r.id.clone(),
                    action: a.clone(),
                }),
                Then::Class(_) => None,
            })
            .collect()
    }

    /// The classification rule that decides `facts`: the first that matches (`None`: the
    /// default decides, or this is not a classification set).
    pub fn deciding_rule(&self, facts: &Value) -> Option<&Rule> {
        if self.kind != Kind::Classification {
            return None;
        }
        self.rules.iter().find(|r| r.when.matches(facts))
    }

    /// The class of `facts`: the first matching rule's, else the default. `None` only for a
    /// collection set.
    pub fn classify(&self, facts: &Value) -> Option<Class> {
        match self.deciding_rule(facts).map(|r| &r.then) {
            Some(Then::Class(c)) => Some(c.clone()),
            _ => self.default.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
