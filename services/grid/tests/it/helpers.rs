//! The grid service with the real district service beside it (answering register lookups and
//! counting declarations) on one bus, the demo district in both, and typed calls of the grid API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::{Role, TokenRequest};
use zw_demo::DemoDistrict;
use zw_testkit::centres::Centre;
use zw_testkit::{RunningApp, TestEnv, http};

/// The grid service and the district service (which answers register lookups and counts),
/// each with its own database, on one bus, seeded with the demo district.
pub struct World {
    pub env: TestEnv,
    pub grid: RunningApp,
    /// The grid service's settings (its database URL, limits).
    pub grid_settings: zw_platform::Settings,
    pub district: Centre,
    pub demo: DemoDistrict,
}

/// Where the services under test keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL databases and NATS JetStream, as in production.
    Postgres,
    /// SQLite files and the in-process bus, as `zhiwang up` runs them.
    Sqlite,
}

pub async fn spawn_world() -> World {
    spawn_world_on(Backend::Postgres).await
}

pub async fn spawn_world_on(backend: Backend) -> World {
    let mut env = match backend {
        Backend::Postgres => TestEnv::nats().await,
        Backend::Sqlite => TestEnv::in_process(),
    };
    let (grid_settings, district_settings) = match backend {
        Backend::Postgres => (env.settings().await, env.settings().await),
        Backend::Sqlite => (env.sqlite_settings(), env.sqlite_settings()),
    };
    let demo = DemoDistrict::generate(&grid_settings.district.code, "test");

    let district_db = zw_district::connect(&district_settings)
        .await
        .expect("district db");
    let people: Vec<_> = demo
        .register()
        .into_iter()
        .map(|p| zw_district::register::RegisterEntry {
            id_number: p.id_number,
            name: p.name,
            registered_house: p.registered_house,
        })
        .collect();
    zw_district::register::load(&district_db, &people)
        .await
        .expect("register");
    let district = Centre {
        app: env.start(&district_settings, zw_district::build).await,
        prefix: "/api/v1/district",
    };

    let grid_db = zw_grid::connect(&grid_settings).await.expect("grid db");
    zw_grid::seed::seed_demo(&grid_db, &demo)
        .await
        .expect("seed");
    let grid = env.start(&grid_settings, zw_grid::build).await;
    World {
        env,
        grid,
        grid_settings,
        district,
        demo,
    }
}

/// The first grid, its first house (in use, room for 4, one registered resident) and that
/// resident.
pub struct Example {
    pub grid: String,
    pub neighbour_grid: String,
    pub house: String,
    pub resident_id: String,
}

impl World {
    pub fn example(&self) -> Example {
        let mut grids = self.demo.grids();
        let grid = grids.next().expect("grid").code.clone();
        let neighbour_grid = grids.next().expect("grid").code.to_string();
        let house = self
            .demo
            .houses(&grid)
            .into_iter()
            .next()
            .expect("house")
            .code;
        let resident_id = self
            .demo
            .register()
            .into_iter()
            .find(|p| p.registered_house.as_ref() == Some(&house))
            .expect("a registered resident")
            .id_number
            .to_string();
        Example {
            grid: grid.to_string(),
            neighbour_grid,
            house: house.to_string(),
            resident_id,
        }
    }

    /// A citizen whose account has no real-name ID number: he reports and reads, but declares
    /// nobody.
    pub fn citizen(&self, name: &str) -> String {
        self.env.token(Role::Citizen, self.demo.code.as_str(), name)
    }

    /// A citizen whose account is bound to `id_number` (real-name registration): he declares
    /// himself as that person.
    pub fn resident(&self, name: &str, id_number: &str) -> String {
        self.env.issuer.token_for(&TokenRequest {
            subject: name.to_owned(),
            roles: vec![Role::Citizen],
            scope: self.demo.code.clone(),
            datasets: Vec::new(),
            name: None,
            id_number: Some(zw_domain::IdNumber::parse(id_number).unwrap()),
        })
    }

    pub fn worker(&self, grid: &str) -> String {
        self.env
            .token(Role::GridWorker, grid, &format!("worker-{grid}"))
    }

    pub fn officer(&self) -> String {
        self.env
            .token(Role::DistrictOfficer, self.demo.code.as_str(), "officer")
    }

    pub async fn declare(&self, token: &str, id_number: &str, house: &str) -> (StatusCode, Value) {
        self.post(
            token,
            "/api/v1/grid/declarations",
            json!({"id_number": id_number, "house_code": house}),
        )
        .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        http::post(&self.grid, Some(token), path, &body).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        http::get(&self.grid, Some(token), path).await
    }

    /// District counts under `code`, once they equal `expected` (events are asynchronous).
    pub async fn district_counts_reach(&self, code: &str, expected: Value) {
        self.district
            .counts_reach(&self.officer(), code, expected)
            .await;
    }
}

/// An ID number no register knows (valid check digit).
pub fn unknown_id() -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 6, 15).expect("date");
    zw_domain::IdNumber::from_parts("110105", birth, 777)
        .expect("valid")
        .to_string()
}
