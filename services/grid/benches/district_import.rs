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
//! Then the growth figure (`--no-growth` skips it): the same sample of 120,000 rows imported
//! into a database already holding 1/100 and one holding 1/10 of Shenzhen's 16 million residents
//! (see [`growth`]), and the ratio of their costs per record.
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

#[derive(Clone)]
struct Dataset {
    grids: Vec<JurisdictionCode>,
    houses: Vec<(HouseCode, String, &'static str, i32)>,
    residents: Vec<(IdNumber, String, HouseCode)>,
}

impl Dataset {
    /// The first `n` grids with their houses and residents.
    fn first_grids(&self, n: usize) -> Dataset {
        let grids = self.grids[..n].to_vec();
        let in_them: std::collections::HashSet<&str> = grids.iter().map(|g| g.as_str()).collect();
        let inside = |h: &HouseCode| in_them.contains(h.origin_grid().as_str());
        Dataset {
            houses: self
                .houses
                .iter()
                .filter(|h| inside(&h.0))
                .cloned()
                .collect(),
            residents: self
                .residents
                .iter()
                .filter(|r| inside(&r.2))
                .cloned()
                .collect(),
            grids,
        }
    }
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
    let houses_per_grid = ((f64::from(HOUSES_PER_GRID) * scale).round() as u32).max(1);
    generate_in(
        grids_under(1..=GRIDS.0, GRIDS.1, GRIDS.2),
        houses_per_grid,
        &mut People::default(),
    )
}

/// The grids of streets `streets` of the district, `communities` communities of `grids` grids
/// each.
fn grids_under(
    streets: std::ops::RangeInclusive<u16>,
    communities: u16,
    grids_each: u16,
) -> Vec<JurisdictionCode> {
    let district = JurisdictionCode::parse("440304").unwrap();
    let mut grids = Vec::new();
    for s in streets {
        let street = district.child(s).unwrap();
        for c in 1..=communities {
            let community = street.child(c).unwrap();
            for g in 1..=grids_each {
                grids.push(community.child(g).unwrap());
            }
        }
    }
    grids
}

/// ID numbers handed out in order: the datasets drawn from one `People` are disjoint, and their
/// ID numbers interleave (same birthdays, later sequence numbers), as a district's do.
#[derive(Default)]
struct People {
    born_on: std::collections::HashMap<NaiveDate, u16>,
    next: u64,
}

fn generate_in(grids: Vec<JurisdictionCode>, houses_per_grid: u32, people: &mut People) -> Dataset {
    let mut houses = Vec::new();
    let mut residents = Vec::new();
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
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
                let person = people.next;
                people.next += 1;
                let mixed = splitmix(person);
                let slot = mixed % 1000;
                let years = if slot < 40 { 80 + slot % 20 } else { slot % 80 };
                let birth = today - chrono::Days::new(years * 365 + 30 + (mixed >> 20) % 330);
                let seq = people.born_on.entry(birth).or_insert(0);
                *seq += 1;
                let id = IdNumber::from_parts("440304", birth, *seq).unwrap();
                residents.push((id, format!("Resident {person}"), code.clone()));
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
    upload(&target, Kind::Jurisdictions, &grids_csv(&data.grids))
        .await
        .unwrap();
    let (houses_csv, residents_csv) = files(&data);

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
    let copied = copy_rows(&db, &data, false).await;
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

    if !std::env::args().any(|a| a == "--no-growth") {
        growth(&mut env, &token).await;
    }
}

/// Shenzhen's residents, the scale of the growth figure.
const SHENZHEN_RESIDENTS: usize = 16_000_000;

/// The growth figure: the same sample (100 grids of 200 houses: 20,000 houses and 100,000
/// residents, in chunks of [`CHUNK`] rows) imported into a grid database that already holds
/// 1/100 of Shenzhen's residents (160,000 in 32,000 houses) and into one that holds 1/10 (1.6
/// million in 320,000 houses), each COPYed in first with a life event per record as the import
/// path writes them, then checkpointed. The sample's ID numbers interleave with those already
/// there (same birthdays, later sequence numbers). Prints the cost per record of each and the
/// ratio.
async fn growth(env: &mut TestEnv, token: &str) {
    let mut people = People::default();
    let there = generate_in(grids_under(11..=20, 10, 10), 320, &mut people);
    let sample = generate_in(grids_under(21..=21, 10, 10), 200, &mut people);
    assert_eq!(there.residents.len(), SHENZHEN_RESIDENTS / 10);
    let (houses_csv, residents_csv) = files(&sample);
    let sample_rows = (sample.houses.len() + sample.residents.len()) as f64;
    println!();
    println!(
        "growth: {} houses and {} residents imported into a database already holding",
        sample.houses.len(),
        sample.residents.len()
    );
    let mut costs = Vec::new();
    for (share, grids) in [("1/100", 100), ("1/10", 1_000)] {
        let there = there.first_grids(grids);
        let settings = env.settings().await;
        let db = zw_grid::connect(&settings).await.unwrap();
        let started = Instant::now();
        copy_rows(&db, &there, true).await;
        db.execute_unprepared("CHECKPOINT").await.unwrap();
        let fill_secs = started.elapsed().as_secs_f64();
        let app = env.start(&settings, zw_grid::build).await;
        let target = Target {
            url: app.base_url.clone(),
            token: token.to_owned(),
            chunk: CHUNK,
            progress: false,
        };
        upload(&target, Kind::Jurisdictions, &grids_csv(&sample.grids))
            .await
            .unwrap();
        let started = Instant::now();
        let houses = upload(&target, Kind::Houses, &houses_csv).await.unwrap();
        let residents = upload(&target, Kind::Residents, &residents_csv)
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(houses.created as usize, sample.houses.len());
        assert_eq!(residents.created as usize, sample.residents.len());
        let micros = secs * 1e6 / sample_rows;
        println!(
            "  {share:<6} ({:>9} residents, {:>7} houses; COPYed in {fill_secs:>5.1} s)  {secs:>7.1} s  {:>8.0} rows/s  {micros:>7.1} µs/record  ({} cases)",
            there.residents.len(),
            there.houses.len(),
            sample_rows / secs,
            residents.cases_raised
        );
        costs.push(micros);
        drop(app);
        db.close().await.unwrap();
    }
    println!(
        "per-record cost at 1/10 ÷ at 1/100  {:>6.3}",
        costs[1] / costs[0]
    );
}

/// The jurisdictions file of `grids`: their streets and communities, then the grids.
fn grids_csv(grids: &[JurisdictionCode]) -> String {
    let mut csv = String::from("code,name\n");
    let mut units = std::collections::BTreeSet::new();
    for g in grids {
        let community = g.parent().unwrap();
        units.insert(community.parent().unwrap());
        units.insert(community);
    }
    for unit in units.iter().chain(grids) {
        writeln!(csv, "{unit},Unit {unit}").unwrap();
    }
    csv
}

/// The houses file and the residents file of `data`.
fn files(data: &Dataset) -> (String, String) {
    let mut houses_csv = String::from("code,address,status,registered_size\n");
    for (code, address, status, size) in &data.houses {
        writeln!(houses_csv, "{code},{address},{status},{size}").unwrap();
    }
    let mut residents_csv = String::from("id_number,name,house_code\n");
    for (id, name, house) in &data.residents {
        writeln!(residents_csv, "{id},{name},{house}").unwrap();
    }
    (houses_csv, residents_csv)
}

/// Rows per COPY message.
const COPY_PIECE: usize = 50_000;

/// COPY the grids, houses, persons and residents the import writes, with the same values (and,
/// with `life_events`, a life event for each house and person as the import writes them too).
async fn copy_rows(db: &DatabaseConnection, data: &Dataset, life_events: bool) -> u64 {
    let now = chrono::Utc::now().to_rfc3339();
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.unwrap();
    let mut total = 0;
    let mut copy = conn
        .copy_in_raw("COPY grids (code, name) FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    let mut grids = String::new();
    for g in &data.grids {
        writeln!(grids, "{g},Grid {g}").unwrap();
    }
    copy.send(grids.into_bytes()).await.unwrap();
    total += copy.finish().await.unwrap();

    let mut copy = conn
        .copy_in_raw(
            "COPY houses (code, grid_code, address, status, registered_size) FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    for piece in data.houses.chunks(COPY_PIECE) {
        let mut houses = String::new();
        for (code, address, status, size) in piece {
            writeln!(
                houses,
                "{code},{},\"{address}\",{status},{size}",
                code.origin_grid()
            )
            .unwrap();
        }
        copy.send(houses.into_bytes()).await.unwrap();
    }
    total += copy.finish().await.unwrap();

    let ids: Vec<Uuid> = data.residents.iter().map(|_| Uuid::now_v7()).collect();
    let mut copy = conn
        .copy_in_raw(
            "COPY persons (id, id_number, name, birth_date, status, grid_code, version, created_at, updated_at) FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    for (piece, ids) in data
        .residents
        .chunks(COPY_PIECE)
        .zip(ids.chunks(COPY_PIECE))
    {
        let mut persons = String::new();
        for ((id, name, house), pid) in piece.iter().zip(ids) {
            writeln!(
                persons,
                "{pid},{id},{name},{},alive,{},1,{now},{now}",
                id.birth_date(),
                house.origin_grid()
            )
            .unwrap();
        }
        copy.send(persons.into_bytes()).await.unwrap();
    }
    total += copy.finish().await.unwrap();

    let mut copy = conn
        .copy_in_raw(
            "COPY residents (id_number, name, house_code, grid_code, since) FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    for piece in data.residents.chunks(COPY_PIECE) {
        let mut residents = String::new();
        for (id, name, house) in piece {
            writeln!(
                residents,
                "{id},{name},{house},{},{now}",
                house.origin_grid()
            )
            .unwrap();
        }
        copy.send(residents.into_bytes()).await.unwrap();
    }
    total += copy.finish().await.unwrap();

    if life_events {
        let mut copy = conn
            .copy_in_raw(
                "COPY life_events (id, subject_kind, subject_key, change, state, house_code, grid_code, version, source_kind, source_actor, source_ref, details, evidence_seq, occurred_at) FROM STDIN (FORMAT csv)",
            )
            .await
            .unwrap();
        let import = Uuid::now_v7();
        for piece in data.houses.chunks(COPY_PIECE) {
            let mut events = String::new();
            for (code, _, status, _) in piece {
                writeln!(
                    events,
                    "{},house,{code},imported,{status},{code},{},1,import,bench,{import},{{}},1,{now}",
                    Uuid::now_v7(),
                    code.origin_grid()
                )
                .unwrap();
            }
            copy.send(events.into_bytes()).await.unwrap();
        }
        for (piece, ids) in data
            .residents
            .chunks(COPY_PIECE)
            .zip(ids.chunks(COPY_PIECE))
        {
            let mut events = String::new();
            for ((_, _, house), pid) in piece.iter().zip(ids) {
                writeln!(
                    events,
                    "{},person,{pid},imported,alive,{house},{},1,import,bench,{import},{{}},1,{now}",
                    Uuid::now_v7(),
                    house.origin_grid()
                )
                .unwrap();
            }
            copy.send(events.into_bytes()).await.unwrap();
        }
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
