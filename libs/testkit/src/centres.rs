//! The community, street and district centres: [`Centre`], typed calls of a centre's
//! `GET <prefix>/stats?under=<code>`, and [`StatsSuite`], the tests of that endpoint every centre
//! must pass — counting the declaration events of the district's grids, once each, and showing
//! the counts to those whose scope contains the code, and only to them.
//!
//! A centre's crate runs the suite with [`centre_stats_suite!`](crate::centre_stats_suite), one
//! test each:
//!
//! ```ignore
//! zw_testkit::centre_stats_suite!(
//!     prefix: "/api/v1/street",
//!     officer: (Role::StreetOfficer, STREET),
//!     build: zw_street::build,
//! );
//! ```

use std::fmt::Display;
use std::net::TcpListener;

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::{Role, Verifier};
use zw_bus::Bus;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};
use zw_platform::Settings;
use zw_platform::http::Application;

use crate::codes::{
    COMMUNITY, DISTRICT, GRID, NEIGHBOUR_GRID, OTHER_DISTRICT, SIBLING_COMMUNITY,
    SIBLING_COMMUNITY_GRID, SIBLING_STREET, SIBLING_STREET_GRID, STREET,
};
use crate::events::{Declaration, publish, publish_copy};
use crate::{PATIENCE, RunningApp, TestEnv, eventually, http};

/// A running centre and where it serves.
pub struct Centre {
    pub app: RunningApp,
    /// Its route prefix, e.g. `/api/v1/street`.
    pub prefix: &'static str,
}

impl Centre {
    /// Build a centre with its `build` on `env` (a fresh database of its own) and run it.
    pub async fn spawn<E: Display>(
        env: &mut TestEnv,
        prefix: &'static str,
        build: impl AsyncFnOnce(&Settings, Bus, Verifier, TcpListener) -> Result<Application, E>,
    ) -> Centre {
        let (_, app) = env.spawn(build).await;
        Centre { app, prefix }
    }

    /// `<prefix>/stats`.
    pub fn stats_path(&self) -> String {
        format!("{}/stats", self.prefix)
    }

    /// `GET <prefix>/stats?under=<under>`, with `token` if any.
    pub async fn stats(&self, token: Option<&str>, under: &str) -> (StatusCode, Value) {
        let path = format!("{}?under={}", self.stats_path(), http::encode(under));
        http::get(&self.app, token, &path).await
    }

    /// Wait until the counts `token` reads under `under` are `expected` (see [`counts`]).
    pub async fn counts_reach(&self, token: &str, under: &str, expected: Value) {
        let what = format!("{} under {under} to reach {expected}", self.stats_path());
        eventually(PATIENCE, &what, || async {
            let (status, body) = self.stats(Some(token), under).await;
            (status == StatusCode::OK && body["declarations"] == expected).then_some(())
        })
        .await;
    }
}

/// `{"pending": …, "accepted": …, "rejected": …, "total": …}` as the stats endpoint returns it.
pub fn counts(pending: i64, accepted: i64, rejected: i64) -> Value {
    json!({
        "pending": pending,
        "accepted": accepted,
        "rejected": rejected,
        "total": pending + accepted + rejected,
    })
}

/// The stats tests of one centre.
pub struct StatsSuite<B> {
    /// The centre's route prefix: its statistics are at `<prefix>/stats`.
    pub prefix: &'static str,
    /// The officer of the centre's own level and the code he is scoped to, e.g.
    /// `(Role::StreetOfficer, STREET)`.
    pub officer: (Role, &'static str),
    /// The centre's `build` (`zw_<centre>::build`).
    pub build: B,
}

/// A centre of the suite running on a bus of its own, and the officer of its level.
struct World {
    env: TestEnv,
    centre: Centre,
    officer: String,
}

impl World {
    /// A `role` of `scope` reading under `under` gets `expected`; a refusal is a `forbidden`
    /// problem.
    async fn assert_read(&self, role: Role, scope: &str, under: &str, expected: StatusCode) {
        let token = self.env.token_for(role, scope);
        let (status, body) = self.centre.stats(Some(&token), under).await;
        assert_eq!(
            status, expected,
            "{role:?} of {scope} under {under}: {body}"
        );
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(
                body["code"], "forbidden",
                "{role:?} of {scope} under {under}"
            );
        }
    }
}

impl<B, E> StatsSuite<B>
where
    B: AsyncFn(&Settings, Bus, Verifier, TcpListener) -> Result<Application, E>,
    E: Display,
{
    async fn spawn(&self) -> World {
        let mut env = TestEnv::nats().await;
        let centre = Centre::spawn(&mut env, self.prefix, &self.build).await;
        let (role, scope) = self.officer;
        let officer = env.token_for(role, scope);
        World {
            env,
            centre,
            officer,
        }
    }

    /// Declarations published for grids anywhere in the district are counted by status under
    /// every code above them — each code counting its own grids only — and a status change
    /// moves a declaration.
    pub async fn declarations_published_for_the_district_show_up_at_every_level(&self) {
        let w = self.spawn().await;
        let confirmed = Declaration::in_grid(GRID);
        let refused = Declaration::in_grid(NEIGHBOUR_GRID);
        for envelope in [
            Declaration::in_grid(GRID).submitted(Accepted),
            confirmed.submitted(Pending),
            Declaration::in_grid(NEIGHBOUR_GRID).submitted(Pending),
            refused.submitted(Pending),
            Declaration::in_grid(SIBLING_COMMUNITY_GRID).submitted(Accepted),
            Declaration::in_grid(SIBLING_STREET_GRID).submitted(Pending),
        ] {
            publish(&w.env.bus, &envelope).await;
        }
        let chief = w.env.token_for(Role::DistrictOfficer, DISTRICT);
        w.centre
            .counts_reach(&chief, DISTRICT, counts(4, 2, 0))
            .await;
        w.centre.counts_reach(&chief, STREET, counts(3, 2, 0)).await;

        publish(&w.env.bus, &confirmed.changed(Pending, Accepted, 2)).await;
        publish(&w.env.bus, &refused.changed(Pending, Rejected, 2)).await;
        w.centre
            .counts_reach(&chief, DISTRICT, counts(2, 3, 1))
            .await;

        let (_, own_code) = self.officer;
        let expected = [
            (GRID, "grid", counts(0, 2, 0)),
            (NEIGHBOUR_GRID, "grid", counts(1, 0, 1)),
            (COMMUNITY, "community", counts(1, 2, 1)),
            (SIBLING_COMMUNITY_GRID, "grid", counts(0, 1, 0)),
            (SIBLING_COMMUNITY, "community", counts(0, 1, 0)),
            (STREET, "street", counts(1, 3, 1)),
            (SIBLING_STREET_GRID, "grid", counts(1, 0, 0)),
            (SIBLING_STREET, "street", counts(1, 0, 0)),
            (DISTRICT, "district", counts(2, 3, 1)),
        ];
        for (under, level, declarations) in expected {
            // The officer of the centre's level reads what is his; the district's officer the
            // rest: one instance serves the whole district.
            let reader = if under.starts_with(own_code) {
                &w.officer
            } else {
                &chief
            };
            let (status, body) = w.centre.stats(Some(reader), under).await;
            assert_eq!(status, StatusCode::OK, "under {under}: {body}");
            assert_eq!(
                body,
                json!({"under": under, "level": level, "declarations": declarations}),
                "under {under}: its own grids only"
            );
        }
    }

    /// A submission and a status change each published twice with one message id (the stream
    /// keeps one) and once more under a new id (the consumer's inbox drops it) count once.
    pub async fn an_event_delivered_twice_is_counted_once(&self) {
        let w = self.spawn().await;
        let bus = &w.env.bus;
        let d = Declaration::in_grid(GRID);
        let submitted = d.submitted(Pending);
        publish(bus, &submitted).await;
        publish(bus, &submitted).await;
        publish_copy(bus, &submitted).await;
        let changed = d.changed(Pending, Rejected, 2);
        publish(bus, &changed).await;
        publish(bus, &changed).await;
        publish_copy(bus, &changed).await;
        // The consumer takes events in order: once the next one is counted, the copies were seen.
        publish(
            bus,
            &Declaration::in_grid(NEIGHBOUR_GRID).submitted(Accepted),
        )
        .await;
        w.centre
            .counts_reach(&w.officer, COMMUNITY, counts(0, 1, 1))
            .await;
        w.centre
            .counts_reach(&w.officer, GRID, counts(0, 0, 1))
            .await;
    }

    /// Every officer and grid worker reads under the codes inside his scope, and is refused
    /// (403 `forbidden`) beside or above it.
    pub async fn each_officer_reads_the_statistics_of_his_own_jurisdiction_only(&self) {
        use Role::{Admin, CommunityOfficer, DistrictOfficer, GridWorker, StreetOfficer};

        let w = self.spawn().await;
        let (read, refused) = (StatusCode::OK, StatusCode::FORBIDDEN);
        for (role, scope, under, expected) in [
            (StreetOfficer, STREET, STREET, read),
            (StreetOfficer, STREET, COMMUNITY, read),
            (StreetOfficer, STREET, GRID, read),
            (StreetOfficer, STREET, DISTRICT, refused),
            (StreetOfficer, SIBLING_STREET, SIBLING_STREET, read),
            (StreetOfficer, SIBLING_STREET, STREET, refused),
            (StreetOfficer, SIBLING_STREET, COMMUNITY, refused),
            (StreetOfficer, SIBLING_STREET, GRID, refused),
            (CommunityOfficer, COMMUNITY, COMMUNITY, read),
            (CommunityOfficer, COMMUNITY, GRID, read),
            (CommunityOfficer, COMMUNITY, NEIGHBOUR_GRID, read),
            (CommunityOfficer, COMMUNITY, SIBLING_COMMUNITY, refused),
            (CommunityOfficer, COMMUNITY, SIBLING_COMMUNITY_GRID, refused),
            (CommunityOfficer, COMMUNITY, STREET, refused),
            (CommunityOfficer, COMMUNITY, DISTRICT, refused),
            (GridWorker, GRID, GRID, read),
            (GridWorker, GRID, NEIGHBOUR_GRID, refused),
            (DistrictOfficer, DISTRICT, SIBLING_STREET, read),
            (DistrictOfficer, DISTRICT, OTHER_DISTRICT, refused),
            (Admin, DISTRICT, DISTRICT, read),
        ] {
            w.assert_read(role, scope, under, expected).await;
        }
    }

    /// Citizens and departments have no statistics at all, not even of their own scope.
    pub async fn citizens_and_departments_may_not_read_statistics_even_of_their_own_scope(&self) {
        let w = self.spawn().await;
        for role in [Role::Citizen, Role::Department] {
            for (scope, under) in [
                (COMMUNITY, COMMUNITY),
                (STREET, STREET),
                (DISTRICT, DISTRICT),
                (DISTRICT, STREET),
            ] {
                w.assert_read(role, scope, under, StatusCode::FORBIDDEN)
                    .await;
            }
        }
    }

    /// No token, a token that is not one, and a token signed by a key the centre does not trust
    /// are all 401 `unauthenticated`.
    pub async fn statistics_without_a_valid_token_are_refused_as_unauthenticated(&self) {
        let w = self.spawn().await;
        let (_, under) = self.officer;
        let forged = w
            .env
            .untrusted_issuer()
            .token(Role::DistrictOfficer, DISTRICT, "intruder");
        for (token, what) in [
            (None, "no token"),
            (Some("not-a-jwt"), "a token that is not one"),
            (
                Some(forged.as_str()),
                "a token signed by a key the centre does not trust",
            ),
        ] {
            let (status, body) = w.centre.stats(token, under).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert_eq!(body["code"], "unauthenticated", "{what}: {body}");
        }
    }

    /// A code of no level, with a letter or a space, with a zero serial, empty or missing is a
    /// 400 `invalid-input` problem that says why.
    pub async fn a_malformed_code_is_a_bad_request_with_a_problem(&self) {
        let w = self.spawn().await;
        for under in [
            "4403040",
            "44030400",
            "4403040010",
            "4403040011",
            "44030400100",
            "4403040010011",
            "44030400x",
            "44030400a",
            "44030400100x",
            "440304000",
            "440304001000",
            "440304001001000",
            " 440304001",
            "",
        ] {
            let (status, body) = w.centre.stats(Some(&w.officer), under).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "under={under:?}: {body}");
            assert_eq!(body["code"], "invalid-input", "under={under:?}");
            assert!(body["detail"].is_string(), "it says why: {body}");
        }
        let (status, body) =
            http::get(&w.centre.app, Some(&w.officer), &w.centre.stats_path()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no code at all: {body}");
    }
}

/// One test per test of [`StatsSuite`], in the calling module:
/// `centre_stats_suite!(prefix: "/api/v1/street", officer: (Role::StreetOfficer, STREET),
/// build: zw_street::build);`. The calling crate needs `tokio` (for `#[tokio::test]`).
#[macro_export]
macro_rules! centre_stats_suite {
    (prefix: $prefix:expr, officer: $officer:expr, build: $build:expr $(,)?) => {
        $crate::one_test_each!(
            $crate::centres::StatsSuite { prefix: $prefix, officer: $officer, build: $build };
            declarations_published_for_the_district_show_up_at_every_level,
            an_event_delivered_twice_is_counted_once,
            each_officer_reads_the_statistics_of_his_own_jurisdiction_only,
            citizens_and_departments_may_not_read_statistics_even_of_their_own_scope,
            statistics_without_a_valid_token_are_refused_as_unauthenticated,
            a_malformed_code_is_a_bad_request_with_a_problem,
        );
    };
}
