use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::Role;
use zw_demo::DemoDistrict;
use zw_testkit::{RunningApp, TestEnv};

/// The grid service and the district service (which answers register lookups and counts),
/// each with its own database, on one bus, seeded with the demo district.
pub struct World {
    pub env: TestEnv,
    pub grid: RunningApp,
    pub district: RunningApp,
    pub demo: DemoDistrict,
}

pub async fn spawn_world() -> World {
    let mut env = TestEnv::nats().await;
    let grid_settings = env.settings().await;
    let district_settings = env.settings().await;
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
    let district = zw_district::build(
        &district_settings,
        env.bus.clone(),
        env.verifier(),
        RunningApp::listener(),
    )
    .await
    .expect("district builds");
    let district = RunningApp::start(district);

    let grid_db = zw_grid::connect(&grid_settings).await.expect("grid db");
    zw_grid::seed::seed_demo(&grid_db, &demo)
        .await
        .expect("seed");
    let grid = zw_grid::build(
        &grid_settings,
        env.bus.clone(),
        env.verifier(),
        RunningApp::listener(),
    )
    .await
    .expect("grid builds");
    let grid = RunningApp::start(grid);
    World {
        env,
        grid,
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

    pub fn citizen(&self, name: &str) -> String {
        self.env.token(Role::Citizen, self.demo.code.as_str(), name)
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
        let res = self
            .grid
            .client
            .post(self.grid.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        decode(res).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let res = self
            .grid
            .client
            .get(self.grid.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        decode(res).await
    }

    /// District counts under `code`, once they equal `expected` (events are asynchronous).
    pub async fn district_counts_reach(&self, code: &str, expected: Value) {
        let token = self.officer();
        let url = self
            .district
            .url(&format!("/api/v1/district/stats?under={code}"));
        zw_testkit::eventually(Duration::from_secs(20), "district counts", || {
            let (client, url, token, expected) = (
                self.district.client.clone(),
                url.clone(),
                token.clone(),
                expected.clone(),
            );
            async move {
                let res = client.get(&url).bearer_auth(&token).send().await.ok()?;
                let body: Value = res.json().await.ok()?;
                (body["declarations"] == expected).then_some(())
            }
        })
        .await;
    }
}

pub async fn decode(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let is_problem = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            is_problem,
            "error responses are problem+json: {status} {body}"
        );
    }
    (status, body)
}

/// An ID number no register knows (valid check digit).
pub fn unknown_id() -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 6, 15).expect("date");
    zw_domain::IdNumber::from_parts("110105", birth, 777)
        .expect("valid")
        .to_string()
}
