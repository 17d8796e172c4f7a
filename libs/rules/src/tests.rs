use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn cond(v: Value) -> Condition {
    let mut errors = Vec::new();
    let c = condition::compile(&v, "", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    c.expect("compiled")
}

fn holds(c: Value, facts: Value) -> bool {
    cond(c).matches(&facts)
}

fn collection(rules: Value, examples: Value) -> Value {
    json!({"kind": "collection", "description": "t", "rules": rules, "examples": examples})
}

fn codes(r: Result<RuleSet, Vec<RuleSetError>>) -> Vec<(ErrorCode, String)> {
    match r {
        Ok(_) => panic!("expected errors"),
        Err(es) => es.into_iter().map(|e| (e.code, e.at)).collect(),
    }
}

fn age_rule(id: &str) -> Value {
    json!({"id": id, "on": ["moved_in"], "when": {"fact": "person.age", "op": "gte", "value": 80},
           "then": {"case": {"type": "elderly_allowance", "recipient": "civil_affairs"}}})
}

#[test]
fn each_op_compares_as_documented() {
    let f = json!({"person.age": 80, "house.status": "rented", "house.legal": true,
                   "house.residents": 5, "house.registered_size": 4});
    let c = |op: &str, v: Value| {
        holds(
            json!({"fact": "person.age", "op": op, "value": v}),
            f.clone(),
        )
    };
    assert!(c("eq", json!(80)));
    assert!(c("eq", json!(80.0)), "numbers compare numerically");
    assert!(!c("eq", json!(79)));
    assert!(c("ne", json!(79)));
    assert!(!c("ne", json!(80)));
    assert!(c("gt", json!(79)) && !c("gt", json!(80)));
    assert!(c("gte", json!(80)) && !c("gte", json!(81)));
    assert!(c("lt", json!(81)) && !c("lt", json!(80)));
    assert!(c("lte", json!(80)) && !c("lte", json!(79)));
    assert!(c("in", json!([1, 80])) && !c("in", json!([1, 2])));
    assert!(holds(
        json!({"fact": "person.age", "op": "exists"}),
        f.clone()
    ));
    assert!(!holds(
        json!({"fact": "house.category", "op": "exists"}),
        f.clone()
    ));
    assert!(holds(
        json!({"fact": "house.status", "op": "in", "value": ["rented", "in_use"]}),
        f.clone()
    ));
    assert!(holds(
        json!({"fact": "house.legal", "op": "eq", "value": true}),
        f.clone()
    ));
    assert!(holds(
        json!({"fact": "house.residents", "op": "gt", "fact_value": "house.registered_size"}),
        f.clone()
    ));
    assert!(!holds(
        json!({"fact": "house.registered_size", "op": "gte", "fact_value": "house.residents"}),
        f
    ));
}

#[test]
fn type_mismatches_and_missing_facts_are_false_for_every_op() {
    let f = json!({"person.age": "eighty", "house.status": 3, "house.legal": null});
    for op in ["eq", "ne", "gt", "gte", "lt", "lte"] {
        assert!(
            !holds(
                json!({"fact": "person.age", "op": op, "value": 80}),
                f.clone()
            ),
            "{op} string vs number"
        );
        assert!(
            !holds(
                json!({"fact": "person.status", "op": op, "value": 1}),
                f.clone()
            ),
            "{op} missing fact"
        );
        assert!(
            !holds(
                json!({"fact": "house.legal", "op": op, "value": 1}),
                f.clone()
            ),
            "{op} null fact"
        );
        assert!(
            !holds(
                json!({"fact": "house.status", "op": op, "fact_value": "house.residents"}),
                f.clone()
            ),
            "{op} missing other fact"
        );
    }
    assert!(!holds(
        json!({"fact": "house.status", "op": "in", "value": ["3"]}),
        f.clone()
    ));
    assert!(!holds(
        json!({"fact": "house.status", "op": "in", "fact_value": "person.age"}),
        f.clone()
    ));
    assert!(!holds(json!({"fact": "house.legal", "op": "exists"}), f));
    // Facts that are not an object: everything is missing.
    assert!(!holds(
        json!({"fact": "person.age", "op": "exists"}),
        json!([1, 2])
    ));
}

#[test]
fn all_any_not_nest() {
    let c = json!({"all": [
        {"fact": "house.status", "op": "eq", "value": "rented"},
        {"any": [
            {"not": {"fact": "house.previous_status", "op": "exists"}},
            {"fact": "house.previous_status", "op": "ne", "value": "rented"}
        ]}
    ]});
    assert!(holds(c.clone(), json!({"house.status": "rented"})));
    assert!(holds(
        c.clone(),
        json!({"house.status": "rented", "house.previous_status": "in_use"})
    ));
    assert!(!holds(
        c.clone(),
        json!({"house.status": "rented", "house.previous_status": "rented"})
    ));
    assert!(!holds(c, json!({"house.status": "in_use"})));
    assert!(holds(json!({"all": []}), json!({})));
    assert!(!holds(json!({"any": []}), json!({})));
}

#[test]
fn collection_rules_fire_on_their_changes_only() {
    let doc = collection(
        json!([age_rule("old"), {"id": "always", "when": {"all": []},
               "then": {"verification_task": {"reason": "check"}}}]),
        json!([]),
    );
    let set = RuleSet::from_value(doc).expect("valid");
    let f = json!({"person.age": 85});
    let fired: Vec<_> = set
        .evaluate("moved_in", &f)
        .into_iter()
        .map(|f| f.rule_id)
        .collect();
    assert_eq!(fired, ["old", "always"]);
    let on_died = set.evaluate("died", &f);
    assert_eq!(on_died.len(), 1);
    assert_eq!(on_died[0].action.kind(), "verification_task");
    assert_eq!(on_died[0].action.recipient(), "grid_worker");
    assert_eq!(on_died[0].action.case_type(), "check");
    assert_eq!(set.classify(&f), None, "a collection set does not classify");
}

fn classification() -> Value {
    json!({"kind": "classification", "rules": [
        {"id": "illegal", "when": {"fact": "house.legal", "op": "eq", "value": false},
         "then": {"level": "key", "colour": "red"}},
        {"id": "rented", "when": {"fact": "house.status", "op": "eq", "value": "rented"},
         "then": {"level": "attention", "colour": "yellow"}}
    ], "default": {"level": "normal", "colour": "green"},
    "examples": [
        {"name": "illegal and rented is red", "facts": {"house.legal": false, "house.status": "rented"},
         "expect": {"level": "key", "colour": "red"}},
        {"name": "nothing known is green", "facts": {}, "expect": {"level": "normal", "colour": "green"}}
    ]})
}

#[test]
fn the_first_matching_classification_rule_wins_else_the_default() {
    let set = RuleSet::from_value(classification()).expect("valid");
    assert_eq!(set.kind(), Kind::Classification);
    let red = set
        .classify(&json!({"house.legal": false, "house.status": "rented"}))
        .expect("class");
    assert_eq!(red.colour, Colour::Red);
    assert_eq!(red.level, "key");
    assert_eq!(
        set.deciding_rule(&json!({"house.status": "rented"}))
            .map(|r| r.id.as_str()),
        Some("rented")
    );
    let green = set
        .classify(&json!({"house.status": "in_use"}))
        .expect("class");
    assert_eq!(
        (green.level.as_str(), green.colour),
        ("normal", Colour::Green)
    );
    assert!(set.evaluate("rented", &json!({})).is_empty());
}

#[test]
fn every_problem_of_a_document_is_reported_with_where_it_is() {
    let doc = collection(
        json!([
            {"id": "", "when": {"all": []}, "then": {"case": {"type": "a", "recipient": "b"}}},
            age_rule("dup"),
            age_rule("dup"),
            {"id": "ops", "when": {"all": [
                {"fact": "person.age", "op": "between", "value": 1},
                {"fact": "person.shoe_size", "op": "eq", "value": 1},
                {"fact": "house.residents", "op": "gt", "fact_value": "house.size"},
                {"fact": "person.age", "op": "in", "value": 3},
                {"fact": "person.age", "op": "gt", "value": "80"},
                {"fact": "person.age", "op": "exists", "value": 1},
                {"fact": "person.age", "op": "eq"},
                {"fact": "person.age", "op": "eq", "value": null},
                {"fact": "person.age", "op": "eq", "value": 1, "fact_value": "person.age"},
                {"every": []},
                {"all": [], "any": []}
            ]}, "then": {"letter": {"to": "x"}}},
            {"id": "bad id!", "on": [""], "when": {"all": []},
             "then": {"case": {"type": "", "recipient": "x"}}}
        ]),
        json!([]),
    );
    let got = codes(RuleSet::from_value(doc));
    let want = [
        (ErrorCode::EmptyId, "/rules/0/id"),
        (ErrorCode::DuplicateId, "/rules/2/id"),
        (ErrorCode::UnknownOp, "/rules/3/when/all/0/op"),
        (ErrorCode::UnknownFact, "/rules/3/when/all/1/fact"),
        (ErrorCode::UnknownFact, "/rules/3/when/all/2/fact_value"),
        (ErrorCode::BadCondition, "/rules/3/when/all/3/value"),
        (ErrorCode::BadCondition, "/rules/3/when/all/4/value"),
        (ErrorCode::BadCondition, "/rules/3/when/all/5"),
        (ErrorCode::BadCondition, "/rules/3/when/all/6"),
        (ErrorCode::BadCondition, "/rules/3/when/all/7/value"),
        (ErrorCode::BadCondition, "/rules/3/when/all/8"),
        (ErrorCode::BadCondition, "/rules/3/when/all/9"),
        (ErrorCode::BadCondition, "/rules/3/when/all/10"),
        (ErrorCode::BadAction, "/rules/3/then"),
        (ErrorCode::BadId, "/rules/4/id"),
        (ErrorCode::BadRule, "/rules/4/on/0"),
        (ErrorCode::BadAction, "/rules/4/then"),
    ];
    let want: Vec<_> = want.iter().map(|(c, a)| (*c, a.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn classification_problems_colours_levels_and_the_default() {
    let mut doc = classification();
    doc["rules"][0]["then"]["colour"] = json!("purple");
    doc["rules"][1]["then"]["level"] = json!("");
    doc["rules"][1]["on"] = json!(["rented"]);
    doc.as_object_mut().expect("object").remove("default");
    let got = codes(RuleSet::from_value(doc));
    assert_eq!(
        got,
        [
            (ErrorCode::BadColour, "/rules/0/then/colour".to_owned()),
            (ErrorCode::BadRule, "/rules/1/on".to_owned()),
            (ErrorCode::BadLevel, "/rules/1/then/level".to_owned()),
            (ErrorCode::MissingDefault, "/default".to_owned()),
        ]
    );
    let mut doc = classification();
    doc["default"] = json!({"level": "normal", "colour": "blue"});
    assert_eq!(
        codes(RuleSet::from_value(doc)),
        [(ErrorCode::BadColour, "/default/colour".to_owned())]
    );
    let mut doc = collection(json!([]), json!([]));
    doc["default"] = json!({"level": "normal", "colour": "green"});
    assert_eq!(
        codes(RuleSet::from_value(doc)),
        [(ErrorCode::UnexpectedDefault, "/default".to_owned())]
    );
}

#[test]
fn a_malformed_document_is_one_error_at_the_part_of_the_wrong_shape() {
    for (doc, at) in [
        ("not json", ""),
        ("[]", ""),
        (r#"{"kind": "collection"}"#, ""),
        (r#"{"kind": "collection", "rules": [], "extra": 1}"#, ""),
        (r#"{"kind": "weather", "rules": []}"#, "/kind"),
        (
            r#"{"kind": "collection", "description": 7, "rules": []}"#,
            "/description",
        ),
        (r#"{"kind": "collection", "rules": {}}"#, "/rules"),
        (
            r#"{"kind": "collection", "rules": [{"id": "ok", "when": {}, "then": {}}, {"id": "x", "then": {}}]}"#,
            "/rules/1",
        ),
        (
            r#"{"kind": "collection", "rules": [], "examples": [{"name": "e", "facts": [], "expect": []}]}"#,
            "/examples/0",
        ),
    ] {
        let got = codes(RuleSet::parse(doc));
        assert_eq!(got, [(ErrorCode::Malformed, at.to_owned())], "{doc}");
    }
    let message = &RuleSet::parse(r#"{"kind": "collection", "rules": [{"id": "x", "then": {}}]}"#)
        .expect_err("malformed")[0]
        .message;
    assert!(message.contains("missing field `when`"), "{message}");
    let message = &RuleSet::parse("{\n  \"kind\": }").expect_err("not JSON")[0].message;
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn examples_must_come_out_exactly_as_written() {
    let ok = collection(
        json!([age_rule("old")]),
        json!([
            {"name": "80 fires", "change": "moved_in", "facts": {"person.age": 80}, "expect": ["old"]},
            {"name": "79 does not", "change": "moved_in", "facts": {"person.age": 79}, "expect": []},
            {"name": "other change", "change": "died", "facts": {"person.age": 90}, "expect": []}
        ]),
    );
    let set = RuleSet::from_value(ok).expect("valid");
    assert_eq!(set.examples().len(), 3);

    let failing = collection(
        json!([age_rule("old")]),
        json!([
            {"name": "wrong", "change": "moved_in", "facts": {"person.age": 79}, "expect": ["old"]},
            {"name": "fine", "change": "moved_in", "facts": {"person.age": 80}, "expect": ["old"]},
            {"name": "too much", "change": "moved_in", "facts": {"person.age": 81}, "expect": []}
        ]),
    );
    let errors = RuleSet::from_value(failing).expect_err("failing examples");
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.code == ErrorCode::ExampleFailed));
    assert_eq!(
        errors[0].to_string(),
        "/examples/0: example `wrong` expects [old] to fire but got []"
    );
    assert_eq!(
        errors[1].message,
        "example `too much` expects [] to fire but got [old]"
    );

    let mut doc = classification();
    doc["examples"][1]["expect"] = json!({"level": "normal", "colour": "red"});
    let errors = RuleSet::from_value(doc).expect_err("failing example");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        "example `nothing known is green` expects normal/red but got normal/green"
    );
}

#[test]
fn examples_of_the_wrong_shape_are_errors() {
    let doc = collection(
        json!([age_rule("old")]),
        json!([
            {"name": "", "change": "moved_in", "facts": {}, "expect": []},
            {"name": "a", "facts": {}, "expect": []},
            {"name": "a", "change": "moved_in", "facts": {"person.height": 1}, "expect": []},
            {"name": "b", "change": "moved_in", "facts": {}, "expect": {"level": "x"}}
        ]),
    );
    assert_eq!(
        codes(RuleSet::from_value(doc)),
        [
            (ErrorCode::BadExample, "/examples/0/name".to_owned()),
            (ErrorCode::BadExample, "/examples/1/change".to_owned()),
            (ErrorCode::DuplicateExample, "/examples/2/name".to_owned()),
            (ErrorCode::UnknownFact, "/examples/2/facts".to_owned()),
            (ErrorCode::BadExample, "/examples/3/expect".to_owned()),
        ]
    );
}

#[test]
fn actions_serialise_as_written() {
    let a: Action = serde_json::from_value(
        json!({"reminder": {"type": "declare_tenants", "recipient": "landlord"}}),
    )
    .expect("action");
    assert_eq!(
        serde_json::to_value(&a).expect("json"),
        json!({"reminder": {"type": "declare_tenants", "recipient": "landlord"}})
    );
    assert_eq!(a.kind(), "reminder");
}

fn fact_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z_]{0,8}".prop_map(Value::String),
        proptest::collection::vec(any::<i32>().prop_map(|n| json!(n)), 0..3).prop_map(Value::Array),
    ]
}

fn facts() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        proptest::sample::select(KNOWN_FACTS.to_vec()),
        fact_value(),
        0..KNOWN_FACTS.len(),
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn comparison() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(KNOWN_FACTS.to_vec()),
        proptest::sample::select(Op::NAMES.to_vec()),
        fact_value(),
        proptest::sample::select(KNOWN_FACTS.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(fact, op, value, other, by_fact)| {
            if op == "exists" {
                json!({"fact": fact, "op": op})
            } else if by_fact {
                json!({"fact": fact, "op": op, "fact_value": other})
            } else {
                let value = match (op, value) {
                    ("in", v @ Value::Array(_)) => v,
                    ("in", v) => json!([v]),
                    ("gt" | "gte" | "lt" | "lte", v) if !v.is_number() => json!(1),
                    (_, Value::Null | Value::Array(_)) => json!("x"),
                    (_, v) => v,
                };
                json!({"fact": fact, "op": op, "value": value})
            }
        })
}

proptest! {
    #[test]
    fn evaluation_is_total_and_not_inverts(c in comparison(), f in facts()) {
        let compiled = cond(c.clone());
        let negated = cond(json!({"not": c.clone()}));
        prop_assert_eq!(negated.matches(&f), !compiled.matches(&f));
        let both = cond(json!({"all": [c.clone(), {"not": c}]}));
        prop_assert!(!both.matches(&f));
    }

    #[test]
    fn a_classification_always_gives_a_class(f in facts()) {
        let set = RuleSet::from_value(classification()).expect("valid");
        prop_assert!(set.classify(&f).is_some());
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = RuleSet::parse(&s);
    }
}

/// Rule documents fuzzed: arbitrary JSON, documents of the right vocabulary put together at
/// random, and valid documents changed in one place. None panics; every error names where it
/// is (a JSON pointer into the document, or the parent of a missing key); only the document as a
/// whole is reported without one; what is accepted parses again to the same set.
mod fuzz {
    use super::*;

    /// Words a rule document is made of, so that random documents get past the first checks.
    const WORDS: &[&str] = &[
        "kind",
        "collection",
        "classification",
        "description",
        "rules",
        "id",
        "on",
        "when",
        "then",
        "all",
        "any",
        "not",
        "fact",
        "op",
        "value",
        "fact_value",
        "case",
        "reminder",
        "verification_task",
        "type",
        "recipient",
        "reason",
        "level",
        "colour",
        "green",
        "yellow",
        "red",
        "default",
        "examples",
        "name",
        "change",
        "facts",
        "expect",
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "exists",
        "person.age",
        "house.status",
        "house.legal",
        "moved_in",
        "",
        " ",
        "x/y",
        "~0",
        "a~1b",
        "é",
    ];

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
            1 => "\\PC{0,8}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            // Quarters: exact in decimal (serde_json reads back not every float it writes).
            (-4000i32..4000).prop_map(|n| json!(f64::from(n) / 4.0)),
            word().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(word(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A valid document of either kind, with its rules in any order of examples.
    fn valid_document() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(classification()),
            Just(collection(
                json!([age_rule("old"), age_rule("older")]),
                json!([{"name": "80", "change": "moved_in", "facts": {"person.age": 80}, "expect": ["old", "older"]}])
            )),
        ]
    }

    /// Every JSON pointer into `v`, the document itself first.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    pointers(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    pointers(item, format!("{at}/{}", escape(k)), out);
                }
            }
            _ => {}
        }
    }

    /// One change to a valid document: the value at one place replaced, or the key there
    /// removed, or a key added next to it.
    #[derive(Debug, Clone)]
    enum Change {
        Replace(Value),
        Remove,
        Add(String, Value),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            3 => json_value().prop_map(Change::Replace),
            1 => Just(Change::Remove),
            1 => (word(), json_value()).prop_map(|(k, v)| Change::Add(k, v)),
        ]
    }

    fn apply(doc: &mut Value, at: &str, change: &Change) {
        let (parent, last) = at.rsplit_once('/').unwrap_or(("", ""));
        match change {
            Change::Replace(v) => {
                if let Some(slot) = doc.pointer_mut(at) {
                    *slot = v.clone();
                }
            }
            Change::Remove => match doc.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            },
            Change::Add(k, v) => match doc.pointer_mut(at) {
                Some(Value::Object(map)) => {
                    map.insert(k.clone(), v.clone());
                }
                Some(Value::Array(items)) => items.push(v.clone()),
                _ => {}
            },
        }
    }

    /// The properties every outcome of `RuleSet::from_value` has.
    fn outcome_is_sound(doc: &Value) -> Result<(), TestCaseError> {
        match RuleSet::from_value(doc.clone()) {
            Ok(set) => {
                prop_assert_eq!(set.document(), doc);
                let again = RuleSet::parse(&doc.to_string());
                prop_assert_eq!(again.as_ref(), Ok(&set));
                // Evaluation is total on the examples' facts and on no facts at all.
                for facts in set
                    .examples()
                    .iter()
                    .map(|e| e.facts.clone())
                    .chain([json!({}), json!(null)])
                {
                    let _ = set.evaluate("moved_in", &facts);
                    let _ = set.classify(&facts);
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(!e.message.trim().is_empty(), "{:?}", e);
                    if e.at.is_empty() {
                        prop_assert_eq!(e.code, ErrorCode::Malformed, "{:?} has no location", e);
                        continue;
                    }
                    // A pointer into the document, or to a key missing from an object there.
                    let parent = e.at.rsplit_once('/').map_or("", |(p, _)| p);
                    prop_assert!(
                        doc.pointer(&e.at).is_some()
                            || doc.pointer(parent).is_some_and(Value::is_object),
                        "{:?} points nowhere in {}",
                        e,
                        doc
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(zw_testkit::fuzz::config(256))]

        #[test]
        fn fuzz_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Err(errors) = RuleSet::parse(&String::from_utf8_lossy(&bytes)) {
                prop_assert!(!errors.is_empty());
            }
        }

        #[test]
        fn fuzz_arbitrary_json_is_refused_soundly(doc in json_value()) {
            outcome_is_sound(&doc)?;
        }

        #[test]
        fn fuzz_rule_shaped_documents_are_refused_soundly(
            kind in prop_oneof![Just("collection"), Just("classification")],
            rules in proptest::collection::vec(json_value(), 0..4),
            examples in proptest::collection::vec(json_value(), 0..3),
            default in json_value(),
        ) {
            let mut doc = json!({"kind": kind, "rules": rules, "examples": examples});
            if kind == "classification" {
                doc["default"] = default;
            }
            outcome_is_sound(&doc)?;
        }

        #[test]
        fn fuzz_a_valid_document_changed_in_one_place_is_judged_soundly(
            doc in valid_document(),
            place in any::<proptest::sample::Index>(),
            change in change(),
        ) {
            let mut at = Vec::new();
            pointers(&doc, String::new(), &mut at);
            let mut changed = doc.clone();
            apply(&mut changed, place.get(at.as_slice()).as_str(), &change);
            outcome_is_sound(&changed)?;
        }

        #[test]
        fn fuzz_a_valid_document_with_one_byte_changed_is_judged_soundly(
            doc in valid_document(),
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut text = doc.to_string().into_bytes();
            let i = at.index(text.len());
            text[i] = byte;
            let text = String::from_utf8_lossy(&text);
            match serde_json::from_str::<Value>(&text) {
                Ok(changed) => outcome_is_sound(&changed)?,
                Err(_) => {
                    let errors = RuleSet::parse(&text).expect_err("not JSON");
                    prop_assert_eq!(errors.len(), 1);
                    prop_assert_eq!(errors[0].code, ErrorCode::Malformed);
                    // serde_json says where: line and column.
                    prop_assert!(errors[0].message.contains("line"), "{}", errors[0].message);
                }
            }
        }
    }
}
