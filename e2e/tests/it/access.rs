//! Who may touch what, across jurisdictions: every operation of the merged OpenAPI document the
//! gateway serves, tried on a record of jurisdiction A (grid 440304001001001, its community and
//! street) by the principals next door — the worker of the neighbouring grid, an officer of the
//! neighbouring community and of the neighbouring street, a department without the data set the
//! record needs, and another citizen. Every attempt is refused (403 or 404, in the content type
//! the document gives for that status) and nothing changes: no evidence record after any attempt,
//! and every table of every service's database the same after all of them as before.
//!
//! The operations come from the document, not from a list here: each one is either a row of
//! [`rows`] (how to get a record of A for it, and what to send) or an entry of [`EXEMPT`] (public,
//! the caller's own, or district-wide configuration, with the reason). An operation the document
//! has and neither lists fails the test with "add a row for <METHOD path>": a new endpoint is
//! tried across jurisdictions the day it appears.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;
use zw_demo::{DEMO_PASSWORD, DemoHouseStatus};
use zw_platform::openapi::{METHODS, TokenUse};

use zw_e2e::cluster::{Cluster, unknown_id};

/// Jurisdiction A and its neighbours (the demo district's first grid, community and street, and
/// the next of each).
const GRID_A: &str = "440304001001001";
const COMMUNITY_A: &str = "440304001001";
const STREET_A: &str = "440304001";
const NEIGHBOUR_GRID: &str = "440304001001002";
const NEIGHBOUR_COMMUNITY: &str = "440304001002";
const NEIGHBOUR_STREET: &str = "440304002";

/// The data sets a department may hold (`cases:<recipient>` for the cases of one recipient).
const DATASETS: [&str; 5] = [
    "persons",
    "entities",
    "houses",
    "incidents",
    "cases:civil_affairs",
];

/// Why an operation of the document is not a row of the table.
enum Exempt {
    /// No security requirement in the document: anyone may call it.
    Public(&'static str),
    /// The caller's own records or his own scope, whatever he asks: nothing of A to name. Run by
    /// every neighbour with the request given (a department: one without the data set named,
    /// `None` for one with every data set); the answer must not contain any of A's records.
    Own(&'static str, &'static str, Option<&'static str>),
    /// District-wide configuration any signed-in staff member reads (it belongs to no grid).
    Config(&'static str),
}

impl Exempt {
    fn reason(&self) -> String {
        match self {
            Exempt::Public(why) => format!("public: {why}"),
            Exempt::Own(why, _, _) => format!("the caller's own: {why}"),
            Exempt::Config(why) => format!("district-wide configuration: {why}"),
        }
    }
}

/// Every operation that is not tried on a record of A, and why.
const EXEMPT: &[(&str, Exempt)] = &[
    ("GET /", Exempt::Public("the gateway's landing page")),
    (
        "GET /api/docs",
        Exempt::Public("the browsable documentation"),
    ),
    (
        "GET /api/openapi.json",
        Exempt::Public("the merged OpenAPI document"),
    ),
    (
        "GET /declare",
        Exempt::Public("the declaration page a door's QR code opens"),
    ),
    (
        "GET /api/v1/grid/houses/{code}",
        Exempt::Public(
            "what is printed on the door, for anyone (staff of the house's scope see more)",
        ),
    ),
    (
        "GET /api/v1/grid/houses/{code}/qr.png",
        Exempt::Public("the label on the door"),
    ),
    (
        "GET /api/v1/grid/houses/{code}/qr.svg",
        Exempt::Public("the label on the door"),
    ),
    (
        "GET /api/v1/grid/open311/v2/services.json",
        Exempt::Public("the incident categories (GeoReport v2)"),
    ),
    (
        "GET /api/v1/grid/open311/v2/services/{service_code}.json",
        Exempt::Public("one incident category (GeoReport v2)"),
    ),
    (
        "GET /api/v1/grid/evidence/checkpoint",
        Exempt::Public("the public transparency log"),
    ),
    (
        "POST /api/v1/grid/evidence/checkpoint",
        Exempt::Public("a witness's cosignature of the public log"),
    ),
    (
        "GET /api/v1/grid/evidence/consistency",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/grid/evidence/keys",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/grid/evidence/tree-head",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/identity/evidence/checkpoint",
        Exempt::Public("the public transparency log"),
    ),
    (
        "POST /api/v1/identity/evidence/checkpoint",
        Exempt::Public("a witness's cosignature of the public log"),
    ),
    (
        "GET /api/v1/identity/evidence/consistency",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/identity/evidence/keys",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/identity/evidence/tree-head",
        Exempt::Public("the public transparency log"),
    ),
    (
        "GET /api/v1/identity/.well-known/jwks.json",
        Exempt::Public("the keys every verifier needs"),
    ),
    (
        "GET /api/v1/identity/revocations",
        Exempt::Public("what every verifier refuses"),
    ),
    (
        "POST /api/v1/identity/citizens",
        Exempt::Public("a citizen registering himself"),
    ),
    ("POST /api/v1/identity/token", Exempt::Public("logging in")),
    (
        "GET /api/v1/identity/me",
        Exempt::Own("the caller's own token", "/api/v1/identity/me", None),
    ),
    (
        "GET /api/v1/grid/declarations",
        Exempt::Own(
            "the declarations the caller may see (a citizen his own)",
            "/api/v1/grid/declarations?limit=200",
            None,
        ),
    ),
    (
        "GET /api/v1/grid/incidents",
        Exempt::Own(
            "the incidents the caller may see (a citizen those he reported)",
            "/api/v1/grid/incidents?limit=200",
            Some("incidents"),
        ),
    ),
    (
        "GET /api/v1/grid/tasks",
        Exempt::Own(
            "the tasks of the caller's grid(s)",
            "/api/v1/grid/tasks?limit=200",
            None,
        ),
    ),
    (
        "GET /api/v1/grid/cases",
        Exempt::Own(
            "the cases of the caller's scope (a department: of its recipients)",
            "/api/v1/grid/cases?limit=200",
            Some("cases:civil_affairs"),
        ),
    ),
    (
        "GET /api/v1/grid/me/disclosures",
        Exempt::Own(
            "the disclosures of the citizen's own record",
            "/api/v1/grid/me/disclosures",
            None,
        ),
    ),
    (
        "GET /api/v1/grid/open311/v2/requests.json",
        Exempt::Own(
            "the service requests the caller's key may see",
            "/api/v1/grid/open311/v2/requests.json",
            Some("incidents"),
        ),
    ),
    (
        "POST /api/v1/grid/media",
        Exempt::Own(
            "the caller's own upload: a photo belongs to no record until one names it (fetching one is a row)",
            "",
            None,
        ),
    ),
    (
        "GET /api/v1/grid/privacy/policy",
        Exempt::Config("the masking policy: any signed-in caller reads it"),
    ),
    (
        "GET /api/v1/grid/rules/{kind}",
        Exempt::Config("the district's rule sets"),
    ),
    (
        "GET /api/v1/grid/rules/{kind}/versions",
        Exempt::Config("the district's rule sets"),
    ),
    (
        "POST /api/v1/grid/rules/{kind}/evaluate",
        Exempt::Config("a dry run of the district's rule sets: it changes nothing"),
    ),
];

/// A request body.
#[derive(Clone, Debug)]
enum Body {
    None,
    Json(Value),
    Csv(String),
    Form(Vec<(&'static str, String)>),
}

/// One request of a row, with its path filled in.
#[derive(Clone, Debug)]
struct Req {
    path: String,
    body: Body,
}

fn req(path: impl Into<String>, body: Body) -> Req {
    Req {
        path: path.into(),
        body,
    }
}

fn get(path: impl Into<String>) -> Vec<Req> {
    vec![req(path, Body::None)]
}

fn json_body(path: impl Into<String>, body: Value) -> Vec<Req> {
    vec![req(path, Body::Json(body))]
}

/// The records of jurisdiction A the rows name, made by A's own principals before the attempts.
struct Fixtures {
    house: String,
    person: String,
    person_id_number: String,
    entity: String,
    incident: String,
    declaration: String,
    task: String,
    /// A task of the neighbouring grid whose confirmation would bring A's person there (made by
    /// the neighbouring grid's worker: a declaration of that person at a house of his own).
    pull_task: String,
    case: String,
    census: String,
    media: String,
    worker_user: String,
    kid: String,
    worker_token: String,
    rules: Value,
    policy: Value,
}

impl Fixtures {
    /// Every id a neighbour must not see in a list of his own (not the person's ID number: the
    /// neighbouring worker typed it himself, into a declaration of his own grid).
    fn ids(&self) -> Vec<&str> {
        vec![
            &self.person,
            &self.entity,
            &self.incident,
            &self.declaration,
            &self.task,
            &self.case,
            &self.census,
        ]
    }
}

/// A principal next door to A.
struct Who {
    name: String,
    token: String,
    subject: String,
    /// A house in use within its own jurisdiction (for a citizen or a department: one outside A).
    home_house: String,
}

/// How the answer says "refused".
#[derive(Clone, Copy)]
enum Refusal {
    /// 403 or 404.
    Status,
    /// A batch: 403 or 404 for the whole, or 200 with every record rejected with 403 or 404.
    Batch,
    /// A bulk import: 403 or 404, or 422 `bad-lines` (nothing imported) with every line refused
    /// as outside the caller's jurisdiction — a file is answered line by line, so that whoever
    /// sends one learns every line he may not load at once.
    Lines,
}

type Build = Box<dyn Fn(&Fixtures, &Who) -> Vec<Req>>;

struct Row {
    /// `METHOD path-template`, as the document has it.
    op: &'static str,
    /// The record of A it names.
    fixture: &'static str,
    /// The data set a department needs for it: the department tried is one entitled to every
    /// other data set. `None`: departments have no part in it (one entitled to every data set is
    /// tried); `Some("*")`: one entitled to none.
    dataset: Option<&'static str>,
    /// Principals for whom the operation is allowed on A by design, and why.
    allowed: &'static [(&'static str, &'static str)],
    /// The demo account of A's own that may do it: after the attempts, the same request by him
    /// must not be refused, so that each refusal above was about the jurisdiction and not about
    /// a wrong path or body (`department` is one entitled to every data set).
    control: &'static str,
    refusal: Refusal,
    build: Build,
}

fn row(
    op: &'static str,
    fixture: &'static str,
    dataset: Option<&'static str>,
    build: impl Fn(&Fixtures, &Who) -> Vec<Req> + 'static,
) -> Row {
    Row {
        op,
        fixture,
        dataset,
        allowed: &[],
        control: "district-officer",
        refusal: Refusal::Status,
        build: Box::new(build),
    }
}

const CITIZENS_REPORT_ANYWHERE: &[(&str, &str)] = &[(
    "citizen-2",
    "a citizen reports an incident at any house; it goes to the grid worker of A",
)];

/// The table: for each operation, how to name a record of A and what to send.
fn rows() -> Vec<Row> {
    let g = "/api/v1/grid";
    let i = "/api/v1/identity";
    let new_house_code = || {
        zw_domain::HouseCode::new(&GRID_A.parse().expect("grid"), 9001)
            .expect("code")
            .to_string()
    };
    let new_credit_code = || {
        zw_domain::CreditCode::from_parts("91440304MA0000777")
            .expect("valid")
            .as_str()
            .to_owned()
    };
    let mut rows = vec![
        // ---- grid: houses
        row("POST /api/v1/grid/houses", "grid A", None, move |_, _| {
            json_body(
                format!("{g}/houses"),
                json!({"grid_code": GRID_A, "address": "Building 9, Room 101", "category": "residential", "legal": true, "registered_size": 3}),
            )
        }),
        row(
            "GET /api/v1/grid/houses",
            "grid A",
            Some("houses"),
            move |_, _| get(format!("{g}/houses?grid={GRID_A}")),
        ),
        row(
            "PATCH /api/v1/grid/houses/{code}",
            "a house of grid A",
            None,
            move |f, _| {
                json_body(
                    format!("{g}/houses/{}", f.house),
                    json!({"address": "taken over", "registered_size": 40}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/houses/{code}/transitions",
            "a house of grid A (in use)",
            None,
            move |f, _| {
                json_body(
                    format!("{g}/houses/{}/transitions", f.house),
                    json!({"to": "rented"}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/houses/{code}/sightings",
            "a house of grid A",
            None,
            move |f, _| json_body(format!("{g}/houses/{}/sightings", f.house), json!({})),
        ),
        row(
            "GET /api/v1/grid/houses/{code}/timeline",
            "a house of grid A",
            Some("houses"),
            move |f, _| get(format!("{g}/houses/{}/timeline", f.house)),
        ),
        row(
            "POST /api/v1/grid/houses/reclassify",
            "grid A",
            None,
            move |_, _| {
                vec![req(
                    format!("{g}/houses/reclassify?under={GRID_A}"),
                    Body::None,
                )]
            },
        ),
        Row {
            refusal: Refusal::Lines,
            ..row(
                "POST /api/v1/grid/imports/houses",
                "a new house code of grid A",
                None,
                move |_, _| {
                    vec![req(
                        format!("{g}/imports/houses"),
                        Body::Csv(format!(
                            "code,address,status,registered_size\n{},Imported 1,in_use,3\n",
                            new_house_code()
                        )),
                    )]
                },
            )
        },
        Row {
            refusal: Refusal::Lines,
            ..row(
                "POST /api/v1/grid/imports/residents",
                "a house of grid A",
                None,
                move |f, _| {
                    vec![req(
                        format!("{g}/imports/residents"),
                        Body::Csv(format!(
                            "id_number,name,house_code\n{},Imported Person,{}\n",
                            unknown_id(901),
                            f.house
                        )),
                    )]
                },
            )
        },
        // ---- grid: grids, census, jurisdictions
        row("GET /api/v1/grid/grids", "grid A", None, move |_, _| {
            get(format!("{g}/grids?under={GRID_A}"))
        }),
        row(
            "GET /api/v1/grid/grids/{code}",
            "grid A",
            None,
            move |_, _| get(format!("{g}/grids/{GRID_A}")),
        ),
        row(
            "POST /api/v1/grid/grids/{code}/census",
            "grid A",
            None,
            move |_, _| vec![req(format!("{g}/grids/{GRID_A}/census"), Body::None)],
        ),
        row(
            "POST /api/v1/grid/grids/{code}/census/{id}/close",
            "the open census round of grid A",
            None,
            move |f, _| {
                vec![req(
                    format!("{g}/grids/{GRID_A}/census/{}/close", f.census),
                    Body::None,
                )]
            },
        ),
        row(
            "PUT /api/v1/grid/grids/{code}/worker",
            "grid A (the caller names himself its worker)",
            None,
            move |_, w| {
                json_body(
                    format!("{g}/grids/{GRID_A}/worker"),
                    json!({"worker": w.subject, "worker_name": "taken over"}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/jurisdictions/import",
            "grid A (renamed, the caller as its worker)",
            None,
            move |_, w| {
                json_body(
                    format!("{g}/jurisdictions/import"),
                    json!([{"code": GRID_A, "name": "Taken over", "worker": w.subject}]),
                )
            },
        ),
        // ---- grid: people
        row(
            "GET /api/v1/grid/persons",
            "grid A",
            Some("persons"),
            move |_, _| get(format!("{g}/persons?grid={GRID_A}")),
        ),
        row(
            "POST /api/v1/grid/persons",
            "a house of grid A",
            Some("persons"),
            move |f, _| {
                json_body(
                    format!("{g}/persons"),
                    json!({"id_number": unknown_id(902), "house_code": f.house, "change": "registered"}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/persons/search",
            "the ID number of a person of grid A",
            Some("persons"),
            move |f, _| {
                json_body(
                    format!("{g}/persons/search"),
                    json!({"id_number": f.person_id_number}),
                )
            },
        ),
        row(
            "GET /api/v1/grid/persons/{id}",
            "a person of grid A",
            Some("persons"),
            move |f, _| get(format!("{g}/persons/{}", f.person)),
        ),
        row(
            "GET /api/v1/grid/persons/{id}/timeline",
            "a person of grid A",
            Some("persons"),
            move |f, _| get(format!("{g}/persons/{}/timeline", f.person)),
        ),
        row(
            "POST /api/v1/grid/persons/{id}/moves",
            "a person of grid A, to a house of the caller's own (and to another house of A)",
            Some("persons"),
            move |f, w| {
                let path = format!("{g}/persons/{}/moves", f.person);
                vec![
                    req(&path, Body::Json(json!({"to_house": w.home_house}))),
                    req(&path, Body::Json(json!({"to_house": f.house}))),
                ]
            },
        ),
        row(
            "POST /api/v1/grid/persons/{id}/move-out",
            "a person of grid A",
            Some("persons"),
            move |f, _| {
                json_body(
                    format!("{g}/persons/{}/move-out", f.person),
                    json!({"reason": "left"}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/persons/{id}/death",
            "a person of grid A",
            Some("persons"),
            move |f, _| {
                json_body(
                    format!("{g}/persons/{}/death", f.person),
                    json!({"date": chrono::Utc::now().date_naive().to_string()}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/persons/{id}/unmask",
            "a person of grid A",
            Some("persons"),
            move |f, _| {
                json_body(
                    format!("{g}/persons/{}/unmask", f.person),
                    json!({"fields": ["person.id_number"], "purpose": "checking a resident's record"}),
                )
            },
        ),
        // ---- grid: legal entities
        row(
            "GET /api/v1/grid/entities",
            "grid A",
            Some("entities"),
            move |_, _| get(format!("{g}/entities?grid={GRID_A}")),
        ),
        row(
            "POST /api/v1/grid/entities",
            "a house of grid A as premises",
            Some("entities"),
            move |f, _| {
                json_body(
                    format!("{g}/entities"),
                    json!({"credit_code": new_credit_code(), "name": "Rogue Ltd", "house_code": f.house}),
                )
            },
        ),
        row(
            "GET /api/v1/grid/entities/{code}",
            "a legal entity of grid A",
            Some("entities"),
            move |f, _| get(format!("{g}/entities/{}", f.entity)),
        ),
        row(
            "GET /api/v1/grid/entities/{code}/timeline",
            "a legal entity of grid A",
            Some("entities"),
            move |f, _| get(format!("{g}/entities/{}/timeline", f.entity)),
        ),
        row(
            "PATCH /api/v1/grid/entities/{code}",
            "a legal entity of grid A, its premises moved to a house of the caller's own (and renamed)",
            Some("entities"),
            move |f, w| {
                let path = format!("{g}/entities/{}", f.entity);
                vec![
                    req(&path, Body::Json(json!({"house_code": w.home_house}))),
                    req(&path, Body::Json(json!({"name": "Renamed Ltd"}))),
                ]
            },
        ),
        row(
            "POST /api/v1/grid/entities/{code}/deregistration",
            "a legal entity of grid A",
            Some("entities"),
            move |f, _| {
                json_body(
                    format!("{g}/entities/{}/deregistration", f.entity),
                    json!({"reason": "dissolved"}),
                )
            },
        ),
        // ---- grid: declarations and tasks
        Row {
            allowed: &[(
                "citizen-2",
                "a citizen may declare anyone at any house: it is held pending for A's grid worker",
            )],
            ..row(
                "POST /api/v1/grid/declarations",
                "a house of grid A",
                None,
                move |f, _| {
                    json_body(
                        format!("{g}/declarations"),
                        json!({"id_number": unknown_id(903), "house_code": f.house}),
                    )
                },
            )
        },
        row(
            "GET /api/v1/grid/declarations/{id}",
            "citizen A's declaration (at a house of grid A)",
            None,
            move |f, _| get(format!("{g}/declarations/{}", f.declaration)),
        ),
        row(
            "GET /api/v1/grid/declarations/{id}/proof",
            "citizen A's declaration",
            None,
            move |f, _| get(format!("{g}/declarations/{}/proof", f.declaration)),
        ),
        row(
            "POST /api/v1/grid/tasks/{id}/decision",
            "an open verification task of grid A (and, for the neighbouring grid's worker, his own task that would bring A's person into his grid)",
            None,
            move |f, w| {
                let path = format!("{g}/tasks/{}/decision", f.task);
                let mut out = vec![
                    req(&path, Body::Json(json!({"outcome": "confirm"}))),
                    req(
                        &path,
                        Body::Json(json!({"outcome": "reject", "reason": "not here"})),
                    ),
                ];
                if w.name == "grid-worker-2" {
                    out.push(req(
                        format!("{g}/tasks/{}/decision", f.pull_task),
                        Body::Json(json!({"outcome": "confirm"})),
                    ));
                }
                out
            },
        ),
        // ---- grid: cases
        row(
            "POST /api/v1/grid/cases/{id}/close",
            "an open case of grid A (elderly allowance, for civil affairs)",
            Some("cases:civil_affairs"),
            move |f, _| {
                json_body(
                    format!("{g}/cases/{}/close", f.case),
                    json!({"note": "closed next door"}),
                )
            },
        ),
        // ---- grid: incidents
        Row {
            allowed: CITIZENS_REPORT_ANYWHERE,
            ..row(
                "POST /api/v1/grid/incidents",
                "a house of grid A",
                Some("incidents"),
                move |f, _| {
                    json_body(
                        format!("{g}/incidents"),
                        json!({"category": "hazard", "description": "reported next door", "house_code": f.house}),
                    )
                },
            )
        },
        row(
            "GET /api/v1/grid/incidents/{id}",
            "an incident of grid A (reported by citizen A)",
            Some("incidents"),
            move |f, _| get(format!("{g}/incidents/{}", f.incident)),
        ),
        row(
            "POST /api/v1/grid/incidents/{id}/transitions",
            "an incident of grid A",
            Some("incidents"),
            move |f, _| {
                json_body(
                    format!("{g}/incidents/{}/transitions", f.incident),
                    json!({"to": "accepted"}),
                )
            },
        ),
        row(
            "POST /api/v1/grid/incidents/{id}/escalate",
            "an incident of grid A",
            Some("incidents"),
            move |f, _| {
                json_body(
                    format!("{g}/incidents/{}/escalate", f.incident),
                    json!({"reason": "beyond this level"}),
                )
            },
        ),
        row(
            "GET /api/v1/grid/media/{sha256}",
            "the photo of an incident of grid A",
            Some("incidents"),
            move |f, _| get(format!("{g}/media/{}", f.media)),
        ),
        Row {
            allowed: CITIZENS_REPORT_ANYWHERE,
            ..row(
                "POST /api/v1/grid/open311/v2/requests.json",
                "a house of grid A",
                Some("incidents"),
                move |f, _| {
                    vec![req(
                        format!("{g}/open311/v2/requests.json"),
                        Body::Form(vec![
                            ("service_code", "hazard".into()),
                            ("description", "reported next door".into()),
                            ("address_id", f.house.clone()),
                        ]),
                    )]
                },
            )
        },
        row(
            "GET /api/v1/grid/open311/v2/requests/{service_request_id}.json",
            "an incident of grid A",
            Some("incidents"),
            move |f, _| get(format!("{g}/open311/v2/requests/{}.json", f.incident)),
        ),
        // ---- grid: district-wide configuration
        row(
            "PUT /api/v1/grid/privacy/policy",
            "the district's masking policy (as it is)",
            None,
            move |f, _| json_body(format!("{g}/privacy/policy"), f.policy.clone()),
        ),
        row(
            "PUT /api/v1/grid/rules/{kind}",
            "the district's collection rules (as they are)",
            None,
            move |f, _| json_body(format!("{g}/rules/collection"), f.rules.clone()),
        ),
        // ---- grid: offline batches
        Row {
            refusal: Refusal::Batch,
            ..row(
                "POST /api/v1/grid/batches",
                "records of grid A: its house, person, entity and incident",
                Some("*"),
                move |f, w| {
                    let record = |kind: &str, target: Option<&str>, data: Value| {
                        json!({
                            "client_id": Uuid::now_v7(),
                            "collected_at": "2026-11-30T08:00:00Z",
                            "kind": kind,
                            "target": target,
                            "data": data,
                        })
                    };
                    let records = vec![
                        record(
                            "house.update",
                            Some(&f.house),
                            json!({"address": "taken over"}),
                        ),
                        record("house.transition", Some(&f.house), json!({"to": "rented"})),
                        record("house.sighting", Some(&f.house), json!({})),
                        record(
                            "person.register",
                            None,
                            json!({"id_number": unknown_id(904), "house_code": f.house, "change": "registered"}),
                        ),
                        record(
                            "person.move",
                            Some(&f.person),
                            json!({"to_house": w.home_house}),
                        ),
                        record("person.move_out", Some(&f.person), json!({})),
                        record(
                            "person.death",
                            Some(&f.person),
                            json!({"date": chrono::Utc::now().date_naive().to_string()}),
                        ),
                        record(
                            "entity.register",
                            None,
                            json!({"credit_code": new_credit_code(), "name": "Rogue Ltd", "house_code": f.house}),
                        ),
                        record(
                            "entity.change",
                            Some(&f.entity),
                            json!({"house_code": w.home_house}),
                        ),
                        record(
                            "entity.deregister",
                            Some(&f.entity),
                            json!({"reason": "dissolved"}),
                        ),
                        record(
                            "incident.transition",
                            Some(&f.incident),
                            json!({"to": "accepted"}),
                        ),
                        record(
                            "incident.escalate",
                            Some(&f.incident),
                            json!({"reason": "beyond"}),
                        ),
                    ];
                    json_body(
                        format!("{g}/batches"),
                        json!({"batch_id": Uuid::now_v7(), "device": "next door", "records": records}),
                    )
                },
            )
        },
        // ---- statistics of A's centres
        row(
            "GET /api/v1/community/stats",
            "community A",
            None,
            move |_, _| get(format!("/api/v1/community/stats?under={COMMUNITY_A}")),
        ),
        row("GET /api/v1/street/stats", "street A", None, move |_, _| {
            get(format!("/api/v1/street/stats?under={STREET_A}"))
        }),
        row(
            "GET /api/v1/district/stats",
            "street A",
            None,
            move |_, _| get(format!("/api/v1/district/stats?under={STREET_A}")),
        ),
        // ---- identity
        row("GET /api/v1/identity/users", "grid A", None, move |_, _| {
            get(format!("{i}/users?under={GRID_A}"))
        }),
        row(
            "POST /api/v1/identity/users",
            "grid A (a second worker for it)",
            None,
            move |_, w| {
                json_body(
                    format!("{i}/users"),
                    json!({"username": format!("rogue.{}", w.name), "password": DEMO_PASSWORD, "roles": ["grid_worker"], "scope": GRID_A}),
                )
            },
        ),
        row(
            "GET /api/v1/identity/users/{id}",
            "grid A's worker",
            None,
            move |f, _| get(format!("{i}/users/{}", f.worker_user)),
        ),
        row(
            "POST /api/v1/identity/users/{id}/disable",
            "grid A's worker",
            None,
            move |f, _| {
                vec![req(
                    format!("{i}/users/{}/disable", f.worker_user),
                    Body::None,
                )]
            },
        ),
        row(
            "POST /api/v1/identity/users/{id}/enable",
            "grid A's worker",
            None,
            move |f, _| {
                vec![req(
                    format!("{i}/users/{}/enable", f.worker_user),
                    Body::None,
                )]
            },
        ),
        row(
            "POST /api/v1/identity/users/{id}/sign-out",
            "grid A's worker",
            None,
            move |f, _| {
                vec![req(
                    format!("{i}/users/{}/sign-out", f.worker_user),
                    Body::None,
                )]
            },
        ),
        row(
            "POST /api/v1/identity/revoke",
            "a token of grid A's worker",
            None,
            move |f, _| json_body(format!("{i}/revoke"), json!({"token": f.worker_token})),
        ),
        row(
            "POST /api/v1/identity/service-accounts",
            "the district (a department entitled to persons)",
            None,
            move |_, w| {
                json_body(
                    format!("{i}/service-accounts"),
                    json!({"client_id": format!("rogue.{}", w.name), "datasets": ["persons"]}),
                )
            },
        ),
        row(
            "GET /api/v1/identity/keys",
            "the signing keys",
            None,
            move |_, _| get(format!("{i}/keys")),
        ),
        row(
            "POST /api/v1/identity/keys/rotate",
            "the signing keys",
            None,
            move |_, _| vec![req(format!("{i}/keys/rotate"), Body::None)],
        ),
        row(
            "POST /api/v1/identity/keys/{kid}/retire",
            "the active signing key",
            None,
            move |f, _| vec![req(format!("{i}/keys/{}/retire", f.kid), Body::None)],
        ),
    ];
    for r in &mut rows {
        if r.op.contains(" /api/v1/identity/") {
            r.control = "admin";
        }
        if let Some((_, who)) = CONTROLS.iter().find(|(op, _)| *op == r.op) {
            r.control = who;
        }
    }
    rows.sort_by_key(|r| r.op);
    rows
}

/// Who of A's own does what the district officer may not (identity's operations: the admin).
/// The controls run in the table's order, so the fixture incident has been escalated to the
/// community by the time its transition is tried.
const CONTROLS: &[(&str, &str)] = &[
    ("POST /api/v1/grid/houses/{code}/sightings", "grid-worker"),
    ("POST /api/v1/grid/declarations", "grid-worker"),
    ("POST /api/v1/grid/tasks/{id}/decision", "grid-worker"),
    ("POST /api/v1/grid/incidents/{id}/escalate", "grid-worker"),
    (
        "POST /api/v1/grid/incidents/{id}/transitions",
        "community-officer",
    ),
    ("POST /api/v1/grid/batches", "grid-worker"),
];

/// Controls that end credentials or change what the others need, run last, in this order.
const CONTROLS_LAST: [&str; 7] = [
    "POST /api/v1/grid/batches",
    "POST /api/v1/identity/revoke",
    "POST /api/v1/identity/users/{id}/sign-out",
    "POST /api/v1/identity/users/{id}/disable",
    "POST /api/v1/identity/users/{id}/enable",
    "POST /api/v1/identity/keys/rotate",
    "POST /api/v1/identity/keys/{kid}/retire",
];

/// Every operation of the document, as `METHOD path`, with its operation object.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.insert(format!("{} {template}", method.to_uppercase()), op.clone());
            }
        }
    }
    out
}

/// What the table says about the document: every operation a row or an exemption, no stale
/// entry, public exemptions really public.
fn coverage(doc: &Value, rows: &[Row]) -> Vec<String> {
    let ops = operations(doc);
    let rows: BTreeSet<&str> = rows.iter().map(|r| r.op).collect();
    let exempt: BTreeMap<&str, &Exempt> = EXEMPT.iter().map(|(k, v)| (*k, v)).collect();
    let default_security = doc.get("security");
    let mut out = Vec::new();
    for (name, op) in &ops {
        let in_rows = rows.contains(name.as_str());
        match (in_rows, exempt.get(name.as_str())) {
            (false, None) => out.push(format!(
                "add a row for {name} (or an exemption, with its reason) to e2e/tests/it/access.rs"
            )),
            (true, Some(_)) => out.push(format!("{name} is both a row and exempt")),
            (_, Some(Exempt::Public(_)))
                if TokenUse::of(op.get("security").or(default_security)) != TokenUse::None =>
            {
                out.push(format!(
                    "{name} is exempt as public but the document requires a token for it: add a row for {name}"
                ));
            }
            _ => {}
        }
    }
    for name in rows.iter().copied().chain(exempt.keys().copied()) {
        if !ops.contains_key(name) {
            out.push(format!(
                "{name} is in the table but not in the document: remove it"
            ));
        }
    }
    out
}

/// Whether a concrete path is an instance of a path template.
fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| match t.find('{') {
            None => t == p,
            Some(start) => {
                let end = t.rfind('}').map_or(t.len(), |e| e + 1);
                let (prefix, suffix) = (&t[..start], &t[end..]);
                p.len() > prefix.len() + suffix.len()
                    && p.starts_with(prefix)
                    && p.ends_with(suffix)
            }
        })
}

/// `application/x-www-form-urlencoded`.
fn form(fields: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An answer: status, content type (without parameters), body.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn send(c: &Cluster, method: Method, r: &Req, token: &str) -> Answer {
    let mut request = c.client.request(method, format!("{}{}", c.gateway, r.path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    request = match &r.body {
        Body::None => request,
        Body::Json(v) => request.json(v),
        Body::Csv(s) => request.header("content-type", "text/csv").body(s.clone()),
        Body::Form(f) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(f)),
    };
    let res = request.send().await.expect("the gateway answers");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let body = res.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

/// Why the answer is not a refusal as the document describes it, if it is not.
fn not_refused(op: &Value, refusal: Refusal, a: &Answer) -> Option<String> {
    let documented = |status: StatusCode| -> Vec<String> {
        op["responses"][status.as_str()]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    if a.status == StatusCode::FORBIDDEN || a.status == StatusCode::NOT_FOUND {
        let types = documented(a.status);
        return (!types.contains(&a.content_type)).then(|| {
            format!(
                "refused with {} as {:?}, but the document gives {types:?} for it",
                a.status, a.content_type
            )
        });
    }
    if let Refusal::Lines = refusal
        && a.status == StatusCode::UNPROCESSABLE_ENTITY
    {
        let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        let lines = body["bad_lines"].as_array().cloned().unwrap_or_default();
        let in_scope = lines.iter().any(|l| {
            !l["problem"]
                .as_str()
                .is_some_and(|p| p.contains("outside your jurisdiction"))
        });
        return (body["code"] != "bad-lines" || lines.is_empty() || in_scope).then(|| {
            format!("a 422 that is not every line refused as out of jurisdiction: {body}")
        });
    }
    if let Refusal::Batch = refusal
        && a.status == StatusCode::OK
    {
        let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        let records = body["records"].as_array().cloned().unwrap_or_default();
        let through: Vec<String> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !(r["outcome"] == "rejected" && (r["status"] == 403 || r["status"] == 404))
            })
            .map(|(n, r)| format!("record {n}: {} {}", r["outcome"], r["status"]))
            .collect();
        return (records.is_empty() || !through.is_empty())
            .then(|| format!("a batch whose records were not all refused: {through:?}"));
    }
    Some(format!("answered {} (not 403 or 404)", a.status))
}

async fn connect(url: &str) -> DatabaseConnection {
    sea_orm::Database::connect(url)
        .await
        .expect("a service database")
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
}

/// Tables a refused request may write to, and why.
const WRITTEN_WHEN_REFUSED: &[(&str, &str)] = &[(
    "grid.collected_records",
    "a batch's records are kept with their answers, refused ones too, so that uploading the batch again gets the same answers (the test checks every record was refused)",
)];

/// Every table of every service's database but [`WRITTEN_WHEN_REFUSED`]:
/// `service.table → (rows, digest of its rows)`.
async fn fingerprint(dbs: &BTreeMap<&'static str, DatabaseConnection>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (service, db) in dbs {
        let backend = db.get_database_backend();
        let tables: Vec<String> = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            ))
            .await
            .expect("tables")
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("name"))
            .collect();
        for table in tables {
            let name = format!("{service}.{table}");
            if WRITTEN_WHEN_REFUSED.iter().any(|(t, _)| *t == name) {
                continue;
            }
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!(
                        "SELECT count(*)::bigint, coalesce(md5(string_agg(md5(t::text), ',' ORDER BY md5(t::text))), '') FROM \"{table}\" t"
                    ),
                ))
                .await
                .expect("digest")
                .expect("a row");
            let n: i64 = row.try_get_by_index(0).expect("count");
            let digest: String = row.try_get_by_index(1).expect("digest");
            out.insert(name, format!("{n} rows, {digest}"));
        }
    }
    out
}

/// Evidence records of grid and identity: every change appends one.
async fn evidence_count(dbs: &BTreeMap<&'static str, DatabaseConnection>) -> (i64, i64) {
    let count = "SELECT count(*)::bigint FROM evidence_records";
    (
        scalar(&dbs["grid"], count).await,
        scalar(&dbs["identity"], count).await,
    )
}

/// Wait until every event written is published, every evidence record is under a signed tree
/// head, and the databases stay the same for a moment.
async fn quiet(dbs: &BTreeMap<&'static str, DatabaseConnection>) -> BTreeMap<String, String> {
    zw_testkit::eventually(
        Duration::from_secs(120),
        "every outbox published, every evidence record sealed and the databases at rest",
        || async {
            for service in ["grid", "identity"] {
                let records = scalar(&dbs[service], "SELECT count(*)::bigint FROM evidence_records").await;
                let sealed = scalar(
                    &dbs[service],
                    "SELECT coalesce(max(tree_size), 0)::bigint FROM evidence_tree_heads",
                )
                .await;
                if sealed < records {
                    return None;
                }
            }
            for db in dbs.values() {
                let exists = scalar(
                    db,
                    "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = 'public' AND tablename = 'outbox'",
                )
                .await;
                if exists > 0
                    && scalar(db, "SELECT count(*)::bigint FROM outbox WHERE published_at IS NULL")
                        .await
                        > 0
                {
                    return None;
                }
            }
            let before = fingerprint(dbs).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = fingerprint(dbs).await;
            (before == after).then_some(after)
        },
    )
    .await
}

async fn ok(c: &Cluster, method: Method, r: Req, token: &str, what: &str) -> Value {
    let a = send(c, method, &r, token).await;
    assert!(
        a.status.is_success(),
        "{what}: {} {} → {}",
        r.path,
        a.status,
        a.body
    );
    serde_json::from_str(&a.body).unwrap_or(Value::Null)
}

async fn subject(c: &Cluster, token: &str) -> String {
    let me = ok(
        c,
        Method::GET,
        req("/api/v1/identity/me", Body::None),
        token,
        "me",
    )
    .await;
    me["subject"].as_str().expect("subject").to_owned()
}

/// A house in use in `grid`.
fn house_in_use(c: &Cluster, grid: &str, nth: usize) -> String {
    c.demo
        .houses(&grid.parse().expect("grid"))
        .into_iter()
        .filter(|h| h.status == DemoHouseStatus::InUse)
        .nth(nth)
        .unwrap_or_else(|| panic!("a house in use in {grid}"))
        .code
        .to_string()
}

/// The records of A, made by A's worker, citizen and admin.
async fn make_fixtures(c: &Cluster) -> Fixtures {
    let g = "/api/v1/grid";
    let worker = c.login("grid-worker").await;
    let citizen = c.login("citizen").await;
    let admin = c.login("admin").await;
    let (grid, house, resident) = c.example();
    assert_eq!(grid, GRID_A);
    let house_2 = house_in_use(c, GRID_A, 1);
    assert_ne!(house, house_2);

    // A resident of 80 (his registration raises an elderly-allowance case for civil affairs).
    let person_id_number = zw_domain::IdNumber::from_parts(
        "440304",
        chrono::NaiveDate::from_ymd_opt(1940, 3, 1).expect("date"),
        11,
    )
    .expect("valid")
    .to_string();
    let person = ok(
        c,
        Method::POST,
        req(
            format!("{g}/persons"),
            Body::Json(json!({"id_number": person_id_number, "house_code": house_2, "change": "registered", "phone": "13800138000"})),
        ),
        &worker,
        "A's worker registers a person",
    )
    .await;
    let person = person["id"].as_str().expect("id").to_owned();
    let cases = ok(
        c,
        Method::GET,
        req(format!("{g}/cases?limit=100"), Body::None),
        &worker,
        "cases",
    )
    .await;
    let case = cases["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["case_type"] == "elderly_allowance" && k["grid_code"] == GRID_A)
        .unwrap_or_else(|| panic!("an elderly-allowance case in grid A: {cases}"))["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let entity = zw_domain::CreditCode::from_parts("91440304MA0000123")
        .expect("valid")
        .as_str()
        .to_owned();
    ok(
        c,
        Method::POST,
        req(
            format!("{g}/entities"),
            Body::Json(
                json!({"credit_code": entity, "name": "Grid A Trading Ltd", "house_code": house}),
            ),
        ),
        &worker,
        "A's worker registers an entity",
    )
    .await;

    // A photo (the door's own label) and citizen A's incident showing it.
    let png = c
        .client
        .get(format!("{}{g}/houses/{house}/qr.png", c.gateway))
        .send()
        .await
        .expect("qr")
        .bytes()
        .await
        .expect("png");
    let res = c
        .client
        .post(format!("{}{g}/media", c.gateway))
        .bearer_auth(&citizen)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("upload");
    assert!(res.status().is_success(), "upload: {}", res.status());
    let media: Value = res.json().await.expect("stored media");
    let media = media["sha256"].as_str().expect("sha256").to_owned();
    let incident = ok(
        c,
        Method::POST,
        req(
            format!("{g}/incidents"),
            Body::Json(json!({"category": "hazard", "description": "Loose cable in grid A", "house_code": house, "media_url": format!("{g}/media/{media}")})),
        ),
        &citizen,
        "citizen A reports an incident",
    )
    .await;
    let incident = incident["id"].as_str().expect("id").to_owned();

    let declaration = ok(
        c,
        Method::POST,
        req(
            format!("{g}/declarations"),
            Body::Json(json!({"id_number": resident, "house_code": house})),
        ),
        &citizen,
        "citizen A declares himself",
    )
    .await;
    let declaration = declaration["id"].as_str().expect("id").to_owned();
    let pending = ok(
        c,
        Method::POST,
        req(
            format!("{g}/declarations"),
            Body::Json(json!({"id_number": unknown_id(900), "house_code": house})),
        ),
        &worker,
        "A's worker records a declaration the register cannot confirm",
    )
    .await;
    let tasks = ok(
        c,
        Method::GET,
        req(format!("{g}/tasks?limit=200"), Body::None),
        &worker,
        "tasks",
    )
    .await;
    let task = tasks["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["declaration"]["id"] == pending["id"])
        .unwrap_or_else(|| panic!("a task for {pending}: {tasks}"))["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let census = ok(
        c,
        Method::POST,
        req(format!("{g}/grids/{GRID_A}/census"), Body::None),
        &worker,
        "A's worker opens a census round",
    )
    .await;
    let census = census["id"].as_str().expect("id").to_owned();

    let keys = ok(
        c,
        Method::GET,
        req("/api/v1/identity/keys", Body::None),
        &admin,
        "keys",
    )
    .await;
    let kid = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["active"] == true)
        .expect("an active key")["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let rules = ok(
        c,
        Method::GET,
        req(format!("{g}/rules/collection"), Body::None),
        &admin,
        "rules",
    )
    .await;
    let policy = ok(
        c,
        Method::GET,
        req(format!("{g}/privacy/policy"), Body::None),
        &admin,
        "policy",
    )
    .await;

    Fixtures {
        house,
        person,
        person_id_number,
        entity,
        incident,
        declaration,
        task,
        pull_task: String::new(),
        case,
        census,
        media,
        worker_user: subject(c, &worker).await,
        kid,
        worker_token: c.login("grid-worker").await,
        rules: rules["document"].clone(),
        policy: policy["document"].clone(),
    }
}

/// The principals next door: the demo's neighbouring grid worker and second citizen, officers of
/// the neighbouring community and street and departments made through identity's admin API.
/// Departments by the data set they lack (`"*"`: they hold none; `""`: they hold every one).
async fn neighbours(c: &Cluster) -> (Vec<Who>, BTreeMap<&'static str, Who>) {
    let admin = c.login("admin").await;
    let mut people = Vec::new();
    for (name, role, scope, home) in [
        (
            "grid-worker-2",
            "",
            NEIGHBOUR_GRID,
            NEIGHBOUR_GRID.to_owned(),
        ),
        (
            "community-officer-2",
            "community_officer",
            NEIGHBOUR_COMMUNITY,
            format!("{NEIGHBOUR_COMMUNITY}001"),
        ),
        (
            "street-officer-2",
            "street_officer",
            NEIGHBOUR_STREET,
            format!("{NEIGHBOUR_STREET}001001"),
        ),
        ("citizen-2", "", "", NEIGHBOUR_GRID.to_owned()),
    ] {
        if !role.is_empty() {
            ok(
                c,
                Method::POST,
                req(
                    "/api/v1/identity/users",
                    Body::Json(json!({"username": name, "password": DEMO_PASSWORD, "roles": [role], "scope": scope, "name": name})),
                ),
                &admin,
                "the admin creates a neighbour",
            )
            .await;
        }
        let token = c.login(name).await;
        people.push(Who {
            name: name.to_owned(),
            subject: subject(c, &token).await,
            token,
            home_house: house_in_use(c, &home, 0),
        });
    }
    let mut departments = BTreeMap::new();
    let lacking = DATASETS.iter().copied().chain(["*", ""]);
    for (n, lacks) in lacking.enumerate() {
        let datasets: Vec<&str> = match lacks {
            "*" => Vec::new(),
            _ => DATASETS.iter().copied().filter(|d| *d != lacks).collect(),
        };
        let client_id = format!("department-{n}");
        let account = ok(
            c,
            Method::POST,
            req(
                "/api/v1/identity/service-accounts",
                Body::Json(json!({"client_id": client_id, "datasets": datasets, "name": format!("department {n}")})),
            ),
            &admin,
            "the admin creates a department",
        )
        .await;
        let token = ok(
            c,
            Method::POST,
            req(
                "/api/v1/identity/token",
                Body::Json(json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": account["client_secret"]})),
            ),
            "",
            "a department logs in",
        )
        .await;
        let token = token["access_token"].as_str().expect("token").to_owned();
        departments.insert(
            lacks,
            Who {
                name: match lacks {
                    "*" => "a department entitled to no data set".to_owned(),
                    "" => "a department entitled to every data set".to_owned(),
                    d => format!("a department entitled to every data set but {d}"),
                },
                subject: subject(c, &token).await,
                token,
                home_house: house_in_use(c, "440304003001001", 0),
            },
        );
    }
    (people, departments)
}

#[tokio::test]
async fn no_principal_next_door_reaches_a_record_of_another_jurisdiction() {
    let c = Cluster::start_with(&[("gateway", "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", "0")]).await;
    let doc: Value = zw_testkit::eventually(
        Duration::from_secs(60),
        "the merged document with every service",
        || async {
            let doc: Value = c
                .client
                .get(format!("{}/api/openapi.json", c.gateway))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            doc.get("x-zhiwang-unavailable").is_none().then_some(doc)
        },
    )
    .await;
    let table = rows();
    let gaps = coverage(&doc, &table);
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
    let ops = operations(&doc);

    let mut fixtures = make_fixtures(&c).await;
    let (people, departments) = neighbours(&c).await;
    let next_door = &people[0];
    assert_eq!(next_door.name, "grid-worker-2");
    let pending = ok(
        &c,
        Method::POST,
        req(
            "/api/v1/grid/declarations",
            Body::Json(
                json!({"id_number": fixtures.person_id_number, "house_code": next_door.home_house}),
            ),
        ),
        &next_door.token,
        "the neighbouring grid's worker records A's person at a house of his",
    )
    .await;
    assert_eq!(pending["status"], "pending", "{pending}");
    let tasks = ok(
        &c,
        Method::GET,
        req("/api/v1/grid/tasks?limit=200", Body::None),
        &next_door.token,
        "tasks",
    )
    .await;
    fixtures.pull_task = tasks["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["declaration"]["id"] == pending["id"])
        .unwrap_or_else(|| panic!("a task for {pending}: {tasks}"))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut dbs = BTreeMap::new();
    for (service, db) in &c.dbs {
        dbs.insert(*service, connect(&db.url).await);
    }
    let before = quiet(&dbs).await;
    let mut evidence = evidence_count(&dbs).await;

    let mut failures = Vec::new();
    let mut tried = 0usize;
    for r in &table {
        let (method, template) = r.op.split_once(' ').expect("METHOD path");
        let method: Method = method.parse().expect("method");
        let department = &departments[r.dataset.unwrap_or("")];
        for who in people.iter().chain([department]) {
            if r.allowed.iter().any(|(name, _)| *name == who.name) {
                continue;
            }
            for request in (r.build)(&fixtures, who) {
                assert!(
                    matches_template(template, &request.path),
                    "the row for {} sends {}",
                    r.op,
                    request.path
                );
                tried += 1;
                let answer = send(&c, method.clone(), &request, &who.token).await;
                if let Some(why) = not_refused(&ops[r.op], r.refusal, &answer) {
                    failures.push(format!(
                        "{} on {} by {}: {why}\n  {} {:?}\n  → {} {}",
                        r.op,
                        r.fixture,
                        who.name,
                        request.path,
                        request.body,
                        answer.status,
                        answer.body
                    ));
                }
                let now = evidence_count(&dbs).await;
                if now != evidence {
                    failures.push(format!(
                        "{} on {} by {} changed something: evidence records (grid, identity) {evidence:?} → {now:?}",
                        r.op, r.fixture, who.name
                    ));
                    evidence = now;
                }
            }
        }
    }

    // The caller's own lists: whatever a neighbour lists holds nothing of A.
    for (op, why) in EXEMPT {
        let Exempt::Own(_, path, dataset) = why else {
            continue;
        };
        if path.is_empty() {
            continue;
        }
        for who in people.iter().chain([&departments[dataset.unwrap_or("")]]) {
            let answer = send(&c, Method::GET, &req(*path, Body::None), &who.token).await;
            tried += 1;
            if let Some(id) = fixtures
                .ids()
                .into_iter()
                .find(|id| answer.body.contains(id))
            {
                failures.push(format!(
                    "{op} by {} shows {id}, a record of A:\n  → {} {}",
                    who.name, answer.status, answer.body
                ));
            }
        }
    }

    let after = quiet(&dbs).await;
    let changed: Vec<String> = before
        .iter()
        .filter(|(table, digest)| after.get(*table) != Some(digest))
        .map(|(table, digest)| {
            format!(
                "{table}: {digest} → {}",
                after.get(table).map_or("gone", |s| s)
            )
        })
        .chain(
            after
                .keys()
                .filter(|t| !before.contains_key(*t))
                .map(|t| format!("{t}: new")),
        )
        .collect();
    if !changed.is_empty() {
        failures.push(format!(
            "the refused requests changed the databases:\n  {}",
            changed.join("\n  ")
        ));
    }
    // The controls: each row's requests by A's own are not refused (the attempts above could
    // not fail for a wrong path or body).
    let mut own = BTreeMap::new();
    for name in [
        "grid-worker",
        "community-officer",
        "district-officer",
        "admin",
        "citizen",
    ] {
        own.insert(name, c.login(name).await);
    }
    own.insert("department", departments[""].token.clone());
    let control_of = |name: &str| Who {
        name: format!("control.{}", name.replace('-', ".")),
        token: own[name].clone(),
        // Naming the current worker of A as its worker changes nothing.
        subject: fixtures.worker_user.clone(),
        home_house: house_in_use(&c, GRID_A, 2),
    };
    let mut order: Vec<&Row> = table
        .iter()
        .filter(|r| !CONTROLS_LAST.contains(&r.op))
        .collect();
    order.extend(
        CONTROLS_LAST
            .iter()
            .filter_map(|op| table.iter().find(|r| r.op == *op)),
    );
    for r in order {
        let (method, _) = r.op.split_once(' ').expect("METHOD path");
        let method: Method = method.parse().expect("method");
        let who = control_of(r.control);
        let requests = (r.build)(&fixtures, &who);
        let request = &requests[0];
        let answer = send(&c, method, request, &who.token).await;
        let refused = not_refused(&ops[r.op], r.refusal, &answer).is_none();
        if refused || answer.status == StatusCode::UNAUTHORIZED || answer.status.is_server_error() {
            failures.push(format!(
                "{} on {}: the control by {} of A is not let through either, so the refusals say nothing\n  {} {:?}\n  → {} {}",
                r.op, r.fixture, r.control, request.path, request.body, answer.status, answer.body
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {tried} cross-jurisdiction requests ({} operations × {} principals) got through:\n\n{}",
        failures.len(),
        table.len(),
        people.len() + 1,
        failures.join("\n\n")
    );
    eprintln!(
        "{tried} cross-jurisdiction requests ({} operations × {} principals) all refused; exempt:\n{}",
        table.len(),
        people.len() + 1,
        EXEMPT
            .iter()
            .map(|(op, why)| format!("  {op}: {}", why.reason()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_table_names_each_operation_it_misses_and_each_stale_entry() {
    let doc = json!({
        "paths": {
            "/api/v1/grid/persons/{id}": { "get": { "security": [{"bearer": []}] } },
            "/api/v1/grid/new-thing/{id}": { "post": { "security": [{"bearer": []}] } },
            "/api/v1/identity/token": { "post": { "security": [{"bearer": []}] } },
        }
    });
    let found = coverage(&doc, &rows()).join("\n");
    assert!(
        found.contains("add a row for POST /api/v1/grid/new-thing/{id}"),
        "{found}"
    );
    assert!(
        found.contains("exempt as public but the document requires a token for it: add a row for POST /api/v1/identity/token"),
        "{found}"
    );
    assert!(
        found.contains(
            "POST /api/v1/grid/persons/{id}/moves is in the table but not in the document"
        ),
        "{found}"
    );
    assert!(
        !found.contains("add a row for GET /api/v1/grid/persons/{id}"),
        "{found}"
    );
}

#[test]
fn a_refusal_is_403_or_404_as_documented_and_a_batch_refuses_every_record() {
    let op = json!({"responses": {
        "403": {"content": {"application/problem+json": {}}},
        "404": {"content": {"application/json": {}}},
    }});
    let answer = |status: u16, content_type: &str, body: Value| Answer {
        status: StatusCode::from_u16(status).expect("status"),
        content_type: content_type.to_owned(),
        body: body.to_string(),
    };
    assert!(
        not_refused(
            &op,
            Refusal::Status,
            &answer(403, "application/problem+json", json!({}))
        )
        .is_none()
    );
    assert!(
        not_refused(
            &op,
            Refusal::Status,
            &answer(404, "application/json", json!([]))
        )
        .is_none()
    );
    assert!(
        not_refused(
            &op,
            Refusal::Status,
            &answer(403, "application/json", json!({}))
        )
        .is_some()
    );
    assert!(
        not_refused(
            &op,
            Refusal::Status,
            &answer(200, "application/json", json!({}))
        )
        .is_some()
    );
    assert!(
        not_refused(
            &op,
            Refusal::Status,
            &answer(422, "application/problem+json", json!({}))
        )
        .is_some()
    );
    let refused = json!({"records": [{"outcome": "rejected", "status": 404}, {"outcome": "rejected", "status": 403}]});
    assert!(
        not_refused(
            &op,
            Refusal::Batch,
            &answer(200, "application/json", refused)
        )
        .is_none()
    );
    let through = json!({"records": [{"outcome": "rejected", "status": 404}, {"outcome": "applied", "status": 200}]});
    assert!(
        not_refused(
            &op,
            Refusal::Batch,
            &answer(200, "application/json", through)
        )
        .is_some()
    );
    assert!(matches_template(
        "/api/v1/grid/open311/v2/requests/{service_request_id}.json",
        "/api/v1/grid/open311/v2/requests/0190.json"
    ));
    assert!(!matches_template(
        "/api/v1/grid/persons/{id}",
        "/api/v1/grid/persons/1/moves"
    ));
    assert!(matches_template(
        "/api/v1/grid/houses",
        "/api/v1/grid/houses?grid=1"
    ));
}
