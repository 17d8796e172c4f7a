//! District-scale load through the public import path, against raw PostgreSQL COPY of the same
//! rows in the same run.
//!
//! `cargo bench -p zw-grid --bench district_import` loads 1,000 grids, 300,000 houses and
//! 1,500,000 residents (Futian's size) into a fresh grid service on the local PostgreSQL:
//! grids through `POST /api/v1/grid/jurisdictions/import`, houses and residents through
//! `POST /api/v1/grid/imports/{houses,residents}` in chunks with a progress bar, by the client
//! `zhiwang import` uses. Then it
//! COPYs the same houses and residents into a second fresh grid database and prints both rates
//! and their ratio. `--scale 0.1` runs a tenth of it (`ZW_BENCH_SCALE` works too).
//!
//! The import path does more than COPY: it checks every ID number and house code, looks up
//! what exists, writes a life event per record and an evidence record per chunk, classifies
//! each house and runs the collection rules on each resident (4% of them are 80 or older, and
//! each of those raises an elderly allowance case with its evidence and event), all in one
//! transaction per chunk. The ratio is what that costs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::Instant;

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;
use zw_auth::Role;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_grid::imports::client::{Kind, Target, upload};
use zw_testkit::TestEnv;

const GRIDS: (u16, u16, u16) = (10, 10, 10);
const HOUSES_PER_GRID: u32 = 300;
const RESIDENTS_PER_HOUSE: u32 = 5;
const CHUNK: usize = 20_000;

struct Dataset {
    grids: Vec<JurisdictionCode>,
    houses: Vec<(HouseCode, String, &'static str, i32)>,
    residents: Vec<(IdNumber, String, HouseCode)>,
}

fn scale() -> f64 {
    let mut args = std::env::args().skip_while(|a| a != "--scale");
    args.next();
    args.next()
        .or_else(|| std::env::var("ZW_BENCH_SCALE").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn generate(scale: f64) -> Dataset {
    let district = JurisdictionCode::parse("440304").unwrap();
    let mut grids = Vec::new();
    for s in 1..=GRIDS.0 {
        let street = district.child(s).unwrap();
        for c in 1..=GRIDS.1 {
            let community = street.child(c).unwrap();
            for g in 1..=GRIDS.2 {
                grids.push(community.child(g).unwrap());
            }
        }
    }
    let houses_per_grid = ((f64::from(HOUSES_PER_GRID) * scale).round() as u32).max(1);
    let mut houses = Vec::new();
    let mut residents = Vec::new();
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let mut born_on: std::collections::HashMap<NaiveDate, u16> = std::collections::HashMap::new();
    let mut person = 0u64;
    for grid in &grids {
        for serial in 1..=houses_per_grid {
            let code = HouseCode::new(grid, u16::try_from(serial).unwrap()).unwrap();
            let status = if serial % 4 == 0 { "rented" } else { "in_use" };
            houses.push((
                code.clone(),
                format!("{serial} Bench Road {grid}"),
                status,
                6,
            ));
            for _ in 0..RESIDENTS_PER_HOUSE {
                // Ages 0 to 79 evenly, and 4% of 80 to 99 (about a city district's share), so
                // the collection rules raise elderly allowance cases as they would. Sequence
                // numbers count up per birthday, so ID numbers are unique.
                let mixed = splitmix(person);
                let slot = mixed % 1000;
                let years = if slot < 40 { 80 + slot % 20 } else { slot % 80 };
                let birth = today - chrono::Days::new(years * 365 + 30 + (mixed >> 20) % 330);
                let seq = born_on.entry(birth).or_insert(0);
                *seq += 1;
                let id = IdNumber::from_parts("440304", birth, *seq).unwrap();
                residents.push((id, format!("Resident {person}"), code.clone()));
                person += 1;
            }
        }
    }
    Dataset {
        grids,
        houses,
        residents,
    }
}

/// A well-mixed number from `n` (SplitMix64), so ages and birthdays do not follow the order of
/// the rows.
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::main]
async fn main() {
    let scale = scale();
    let data = generate(scale);
    let input_rows = (data.houses.len() + data.residents.len()) as f64;
    println!(
        "district_import: {} grids, {} houses, {} residents (scale {scale})",
        data.grids.len(),
        data.houses.len(),
        data.residents.len()
    );

    let mut env = TestEnv::in_process();
    let settings = env.settings().await;
    let app = env.start(&settings, zw_grid::build).await;
    let token = env.token(Role::DistrictOfficer, "440304", "bench-officer");
    let target = Target {
        url: app.base_url.clone(),
        token: token.clone(),
        chunk: CHUNK,
        progress: true,
    };

    // The files a district would hand over, sent by the client `zhiwang import` uses. Grids go
    // first, through the jurisdictions import (1,000 rows: not counted in the rate).
    let mut grids_csv = String::from("code,name\n");
    let mut units = std::collections::BTreeSet::new();
    for g in &data.grids {
        let community = g.parent().unwrap();
        units.insert(community.parent().unwrap());
        units.insert(community);
    }
    for unit in units.iter().chain(&data.grids) {
        writeln!(grids_csv, "{unit},Unit {unit}").unwrap();
    }
    upload(&target, Kind::Jurisdictions, &grids_csv)
        .await
        .unwrap();
    let mut houses_csv = String::from("code,address,status,registered_size\n");
    for (code, address, status, size) in &data.houses {
        writeln!(houses_csv, "{code},{address},{status},{size}").unwrap();
    }
    let mut residents_csv = String::from("id_number,name,house_code\n");
    for (id, name, house) in &data.residents {
        writeln!(residents_csv, "{id},{name},{house}").unwrap();
    }

    let started = Instant::now();
    let houses = upload(&target, Kind::Houses, &houses_csv).await.unwrap();
    let residents = upload(&target, Kind::Residents, &residents_csv)
        .await
        .unwrap();
    let import_secs = started.elapsed().as_secs_f64();
    assert_eq!(houses.created as usize, data.houses.len());
    assert_eq!(residents.created as usize, data.residents.len());

    // The baseline: the same rows COPYed straight into the same tables of a fresh grid database.
    let baseline_settings = env.settings().await;
    let db = zw_grid::connect(&baseline_settings).await.unwrap();
    let started = Instant::now();
    let copied = copy_baseline(&db, &data).await;
    let copy_secs = started.elapsed().as_secs_f64();

    let import_rate = input_rows / import_secs;
    let copy_rate = input_rows / copy_secs;
    println!();
    println!("rows loaded              {input_rows:>12.0}");
    println!(
        "cases raised by rules    {:>12}  (residents of 80 or more)",
        residents.cases_raised
    );
    println!("import path              {import_secs:>10.1} s  {import_rate:>10.0} rows/s");
    println!(
        "COPY (same rows)         {copy_secs:>10.1} s  {copy_rate:>10.0} rows/s  ({copied} table rows)"
    );
    println!(
        "import / COPY            {:>10.3}  (COPY is {:.1}x faster)",
        import_rate / copy_rate,
        copy_rate / import_rate
    );
}

/// COPY the houses, persons and residents the import wrote, with the same values.
async fn copy_baseline(db: &DatabaseConnection, data: &Dataset) -> u64 {
    let now = chrono::Utc::now().to_rfc3339();
    let mut grids = String::new();
    for g in &data.grids {
        writeln!(grids, "{g},Grid {g}").unwrap();
    }
    let mut houses = String::new();
    for (code, address, status, size) in &data.houses {
        writeln!(
            houses,
            "{code},{},\"{address}\",{status},{size}",
            code.origin_grid()
        )
        .unwrap();
    }
    let mut persons = String::new();
    let mut residents = String::new();
    for (id, name, house) in &data.residents {
        let grid = house.origin_grid();
        writeln!(
            persons,
            "{},{id},{name},{},alive,{grid},1,{now},{now}",
            Uuid::now_v7(),
            id.birth_date()
        )
        .unwrap();
        writeln!(residents, "{id},{name},{house},{grid},{now}").unwrap();
    }
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.unwrap();
    let mut total = 0;
    for (statement, rows) in [
        ("COPY grids (code, name) FROM STDIN (FORMAT csv)", grids),
        (
            "COPY houses (code, grid_code, address, status, registered_size) FROM STDIN (FORMAT csv)",
            houses,
        ),
        (
            "COPY persons (id, id_number, name, birth_date, status, grid_code, version, created_at, updated_at) FROM STDIN (FORMAT csv)",
            persons,
        ),
        (
            "COPY residents (id_number, name, house_code, grid_code, since) FROM STDIN (FORMAT csv)",
            residents,
        ),
    ] {
        let mut copy = conn.copy_in_raw(statement).await.unwrap();
        copy.send(rows.into_bytes()).await.unwrap();
        total += copy.finish().await.unwrap();
    }
    // Make sure it is all there, as the import path's answers promise.
    let n = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM persons",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(n as usize, data.residents.len());
    total
}
