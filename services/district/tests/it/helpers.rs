//! The district service on a bus of its own, with its database at hand (for the register), and
//! the people and houses of its register.

use sea_orm::DatabaseConnection;
use serde_json::Value;
use zw_auth::Role;
use zw_bus::BusError;
use zw_contracts::rpc::{PopulationLookup, PopulationLookupRequest, PopulationRecord};
use zw_domain::{HouseCode, IdNumber};
use zw_testkit::TestEnv;
use zw_testkit::centres::Centre;
use zw_testkit::codes::{DISTRICT, code};

/// The district's route prefix.
pub const PREFIX: &str = "/api/v1/district";

/// The district service, running, with its own database and the bus it listens on.
pub struct District {
    pub env: TestEnv,
    pub centre: Centre,
    /// The service's own database (for loading the register, as `zhiwang seed` does).
    pub db: DatabaseConnection,
}

pub async fn spawn_district() -> District {
    let mut env = TestEnv::nats().await;
    let (settings, app) = env.spawn(zw_district::build).await;
    let db = zw_district::connect(&settings).await.expect("district db");
    District {
        env,
        centre: Centre {
            app,
            prefix: PREFIX,
        },
        db,
    }
}

impl District {
    /// Ask the register about `id_number` over the bus, as the grid service does.
    pub async fn lookup(&self, id_number: &str) -> Result<Option<PopulationRecord>, BusError> {
        let reply = self
            .env
            .bus
            .request::<PopulationLookup>(&PopulationLookupRequest {
                id_number: id_number.to_owned(),
            })
            .await?;
        Ok(reply.record)
    }

    /// Wait until the counts the district's officer reads under `under` are `expected`.
    pub async fn counts_reach(&self, under: &str, expected: Value) {
        let chief = self.env.token_for(Role::DistrictOfficer, DISTRICT);
        self.centre.counts_reach(&chief, under, expected).await;
    }
}

pub fn house_in(grid: &str, serial: u16) -> HouseCode {
    HouseCode::new(&code(grid), serial).expect("a valid house code")
}

/// A valid resident ID number (check digit included), different for each `sequence`.
pub fn id_number(sequence: u16) -> IdNumber {
    let birth = chrono::NaiveDate::from_ymd_opt(1984, 2, 29).expect("a date");
    IdNumber::from_parts("440304", birth, sequence).expect("a valid ID number")
}
