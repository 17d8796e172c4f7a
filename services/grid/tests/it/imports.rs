//! Bulk imports: a chunk is checked whole, goes in whole or not at all, and sending it again
//! changes nothing.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_testkit::http;

use crate::helpers::{Backend, World, spawn_world, spawn_world_on};

async fn import(w: &World, token: &str, kind: &str, csv: &str) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .post(w.grid.url(&format!("/api/v1/grid/imports/{kind}")))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "text/csv")
            .body(csv.to_owned()),
    )
    .await
}

fn house(grid: &str, serial: u16) -> String {
    HouseCode::new(&JurisdictionCode::parse(grid).unwrap(), serial)
        .unwrap()
        .to_string()
}

fn person(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 9).unwrap();
    IdNumber::from_parts("440304", birth, seq)
        .unwrap()
        .to_string()
}

/// `code` with a wrong check digit.
fn corrupt(code: &str) -> String {
    let mut s = code.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

#[tokio::test]
async fn houses_and_residents_go_in_once_and_a_second_sending_changes_nothing() {
    let w = spawn_world().await;
    let grid = w.example().grid;
    let officer = w.officer();
    let (h1, h2, h3) = (house(&grid, 9001), house(&grid, 9002), house(&grid, 9003));
    let houses = format!(
        "code,address,status,registered_size,category,legal\n\
         {h1},1 Import Road,in_use,4,residential,true\n\
         {h2},2 Import Road,rented,2,,\n\
         {h3},3 Import Road,planned,0,commercial,false\n"
    );
    let (status, report) = import(&w, &officer, "houses", &houses).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["rows"], 3);
    assert_eq!(report["created"], 3);
    assert!(report["import_id"].is_string());
    let (status, h) = w.get(&officer, &format!("/api/v1/grid/houses/{h2}")).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["status"], "rented");
    assert_eq!(h["grid_code"], grid.as_str());
    // Classified as they arrive, by the classification rules: rented is yellow, an illegal
    // building red, a house in use green.
    for (code, class) in [
        (&h1, ("normal", "green")),
        (&h2, ("attention", "yellow")),
        (&h3, ("key", "red")),
    ] {
        let (_, h) = w
            .get(&officer, &format!("/api/v1/grid/houses/{code}"))
            .await;
        assert_eq!(
            (
                h["class_level"].as_str().unwrap(),
                h["colour"].as_str().unwrap()
            ),
            class,
            "{h}"
        );
        assert_eq!(h["classified_by_rules"], 1, "{h}");
    }

    let (status, again) = import(&w, &officer, "houses", &houses).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], 0);
    assert_eq!(again["unchanged"], 3);
    assert!(again["import_id"].is_null(), "nothing recorded: {again}");

    let elder = IdNumber::from_parts(
        "440304",
        chrono::NaiveDate::from_ymd_opt(1940, 6, 1).unwrap(),
        103,
    )
    .unwrap()
    .to_string();
    let residents = format!(
        "id_number,name,house_code,phone\n\
         {},Li Lei,{h1},13800138000\n\
         {},Han Meimei,{h2},\n\
         {elder},Wang Nainai,{h1},\n",
        person(101),
        person(102)
    );
    let (status, report) = import(&w, &officer, "residents", &residents).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["created"], 3);
    // The collection rules ran on the imported residents: the one of 86 gets her case.
    assert_eq!(report["cases_raised"], 1, "{report}");
    let (status, elder_record) = w
        .post(
            &officer,
            "/api/v1/grid/persons/search",
            serde_json::json!({"id_number": elder}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{elder_record}");
    let (status, cases) = w.get(&officer, "/api/v1/grid/cases").await;
    assert_eq!(status, StatusCode::OK, "{cases}");
    let items = cases["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{cases}");
    assert_eq!(items[0]["case_type"], "elderly_allowance");
    assert_eq!(items[0]["subject_key"], elder_record["id"]);
    let (status, again) = import(&w, &officer, "residents", &residents).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["unchanged"], 3);
    assert_eq!(again["cases_raised"], 0);

    // An imported resident is known to the grid: declaring himself there again is refused.
    let (status, p) = w
        .declare(&w.resident("li", &person(101)), &person(101), &h1)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
}

#[tokio::test]
async fn one_bad_row_refuses_the_whole_chunk_naming_every_bad_line() {
    let w = spawn_world().await;
    let grid = w.example().grid;
    let officer = w.officer();
    let good = house(&grid, 9101);
    let bad_luhn = corrupt(&house(&grid, 9102));
    let unknown_grid = house("440304099099099", 1);
    let csv = format!(
        "code,address,status,registered_size\n\
         {good},ok,in_use,3\n\
         {bad_luhn},bad check digit,in_use,3\n\
         {unknown_grid},no such grid,in_use,3\n\
         {good},twice,in_use,3\n\
         {},bad status,haunted,3\n",
        house(&grid, 9103)
    );
    let (status, p) = import(&w, &officer, "houses", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:bad-lines");
    assert_eq!(p["bad_line_count"], 4);
    let listed: Vec<u64> = p["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [3, 4, 5, 6], "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("4 bad line(s)"), "{detail}");
    for line in ["line 3:", "line 4:", "line 5:", "line 6:"] {
        assert!(detail.contains(line), "{line} in {detail}");
    }
    let (status, _) = w
        .get(&officer, &format!("/api/v1/grid/houses/{good}"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing of the chunk was written"
    );

    // Residents: a house nobody can live in, and a malformed ID number.
    let planned = house(&grid, 9104);
    let (status, _) = import(
        &w,
        &officer,
        "houses",
        &format!("code,address,status,registered_size\n{planned},future,planned,4\n"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let csv = format!(
        "id_number,name,house_code\n{},A,{planned}\n{},B,{}\n",
        person(201),
        corrupt(&person(202)),
        w.example().house
    );
    let (status, p) = import(&w, &officer, "residents", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("line 2:") && detail.contains("planned"),
        "{detail}"
    );
    assert!(
        detail.contains("line 3:") && detail.contains("id_number"),
        "{detail}"
    );
}

#[tokio::test]
async fn only_officers_import_inside_their_jurisdiction_and_only_csv() {
    let w = spawn_world().await;
    let ex = w.example();
    let csv = format!(
        "code,address,status,registered_size\n{},x,in_use,1\n",
        house(&ex.grid, 9201)
    );
    let (status, p) = import(&w, &w.worker(&ex.grid), "houses", &csv).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");

    // A community officer of another community: the row is outside his jurisdiction.
    let other = JurisdictionCode::parse(&ex.grid).unwrap();
    let street = other.parent().unwrap().parent().unwrap();
    let elsewhere = street.child(9).unwrap();
    let token = w.env.token(
        zw_auth::Role::CommunityOfficer,
        elsewhere.as_str(),
        "officer-elsewhere",
    );
    let (status, p) = import(&w, &token, "houses", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("outside your jurisdiction")
    );

    let (status, p) = http::call(
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/imports/houses"))
            .bearer_auth(w.officer())
            .header(CONTENT_TYPE, "application/json")
            .body("[]"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");

    let (status, p) = import(&w, &w.officer(), "houses", "code,address\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = import(&w, &w.officer(), "houses", "code,address,colour\nx,y,z\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}

#[tokio::test]
async fn the_import_client_names_a_refused_row_by_its_line_in_the_file() {
    use zw_grid::imports::client::{Kind, Target, upload};

    let w = spawn_world().await;
    let grid = w.example().grid;
    let (h1, h2) = (house(&grid, 9101), house(&grid, 9102));
    // Blank lines and a quoted line break before the bad row, which is line 9 of the file.
    let file = format!(
        "code,address,status,registered_size,category,legal\n\
         \n\
         {h1},\"1 Import Road\nBlock A\",in_use,4,residential,true\n\
         \n\
         \n\
         {h2},2 Import Road,rented,2,,\n\
         \n\
         {},8 Import Road,in_use,1,,\n",
        corrupt(&house(&grid, 9103))
    );
    let target = Target {
        url: w.grid.url(""),
        token: w.officer(),
        chunk: 2,
        progress: false,
    };
    let refused = upload(&target, Kind::Houses, &file)
        .await
        .expect_err("the chunk with the bad row is refused");
    let message = refused.to_string();
    assert!(message.contains("file line 9:"), "{message}");
    assert!(message.contains("file lines 9–9 (chunk 2)"), "{message}");
    // The first chunk went in, its quoted line break kept.
    let (status, h) = w
        .get(&w.officer(), &format!("/api/v1/grid/houses/{h1}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["address"], "1 Import Road\nBlock A");
}

/// What a grid database holds, counted by SQL (the same on both databases), and the case
/// events it sent.
struct Tally {
    db: sea_orm::DatabaseConnection,
    /// With NATS, the stream prefix: its relay deletes a row once it is published, so the case
    /// events are counted in the stream; in process the outbox keeps them.
    nats_prefix: Option<String>,
}

impl Tally {
    async fn of(w: &World) -> Tally {
        Tally {
            db: zw_grid::connect(&w.grid_settings).await.expect("grid db"),
            nats_prefix: (!w.env.bus.is_in_process()).then(|| w.env.prefix.clone()),
        }
    }

    /// The `case.raised` events sent: on NATS, once the outbox is empty (every row published),
    /// those stored in the events stream.
    async fn case_events(&self) -> i64 {
        let Some(prefix) = &self.nats_prefix else {
            return self
                .count("SELECT COUNT(*) FROM outbox WHERE subject LIKE '%.case.raised'")
                .await;
        };
        zw_testkit::eventually(zw_testkit::PATIENCE, "the outbox published", || async {
            (self.count("SELECT COUNT(*) FROM outbox").await == 0).then_some(())
        })
        .await;
        let client = async_nats::connect(zw_testkit::nats_url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(zw_bus::subject::stream_name(
                prefix,
                zw_bus::StreamKind::Events,
            ))
            .await
            .unwrap();
        let mut subjects = stream
            .info_with_subjects(format!("{prefix}.zw.evt.>"))
            .await
            .unwrap();
        let mut n = 0;
        while let Some((subject, count)) = futures::TryStreamExt::try_next(&mut subjects)
            .await
            .unwrap()
        {
            if subject.ends_with(".case.raised") {
                n += count as i64;
            }
        }
        n
    }

    async fn count(&self, sql: &str) -> i64 {
        use sea_orm::ConnectionTrait;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// Persons, residents, life events, cases, evidence records and case events.
    async fn all(&self) -> [i64; 6] {
        [
            self.count("SELECT COUNT(*) FROM persons").await,
            self.count("SELECT COUNT(*) FROM residents").await,
            self.count("SELECT COUNT(*) FROM life_events").await,
            self.count("SELECT COUNT(*) FROM cases").await,
            self.count("SELECT COUNT(*) FROM evidence_records").await,
            self.case_events().await,
        ]
    }
}

/// `n` houses in use in `grid` from serial `from` on, as an import file.
fn houses_file(grid: &str, from: u16, n: u16) -> String {
    let mut csv = String::from("code,address,status,registered_size\n");
    for serial in from..from + n {
        csv.push_str(&format!(
            "{},{serial} Staging Road,in_use,6\n",
            house(grid, serial)
        ));
    }
    csv
}

/// `n` residents of the houses of [`houses_file`]`(grid, from, …)`, five to a house; every
/// tenth of them 85 years old (the collection rules raise a case for each).
fn residents_file(grid: &str, from: u16, n: u16) -> String {
    let mut csv = String::from("id_number,name,house_code\n");
    for i in 0..n {
        let year = if i % 10 == 0 { 1941 } else { 1990 };
        // Sequence numbers go up to 999: a new birthday every 500 people.
        let born = chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap()
            + chrono::Days::new(u64::from(i / 500));
        let id = IdNumber::from_parts("440304", born, 100 + i % 500).unwrap();
        csv.push_str(&format!(
            "{id},Resident {i},{}\n",
            house(grid, from + i / 5)
        ));
    }
    csv
}

/// A chunk goes in on either database (set-based on PostgreSQL, in batches on SQLite) with the
/// same result, and sending it again, or a chunk that overlaps it, writes nothing twice.
async fn a_chunk_sent_again_changes_nothing(backend: Backend) -> [i64; 6] {
    let w = spawn_world_on(backend).await;
    let grid = w.example().grid;
    let officer = w.officer();
    let tally = Tally::of(&w).await;
    // The first 40 houses, then all 80: the second chunk creates only the last 40.
    let (status, first) = import(&w, &officer, "houses", &houses_file(&grid, 8001, 40)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, both) = import(&w, &officer, "houses", &houses_file(&grid, 8001, 80)).await;
    assert_eq!(status, StatusCode::CREATED, "{both}");
    assert_eq!(
        (both["created"].as_u64(), both["unchanged"].as_u64()),
        (Some(40), Some(40))
    );
    // 400 residents, 40 of them of 85: in two overlapping chunks.
    let (status, first) =
        import(&w, &officer, "residents", &residents_file(&grid, 8001, 150)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["created"], 150);
    assert_eq!(first["cases_raised"], 15);
    let residents = residents_file(&grid, 8001, 400);
    let (status, report) = import(&w, &officer, "residents", &residents).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["created"], 250, "{report}");
    assert_eq!(report["unchanged"], 150, "{report}");
    assert_eq!(report["cases_raised"], 25, "{report}");
    let after = tally.all().await;

    for (kind, csv) in [
        ("houses", houses_file(&grid, 8001, 80)),
        ("residents", residents),
    ] {
        let (status, again) = import(&w, &officer, kind, &csv).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["created"], 0, "{again}");
        assert!(again["import_id"].is_null(), "{again}");
        assert_eq!(again["cases_raised"], 0, "{again}");
    }
    assert_eq!(
        tally.all().await,
        after,
        "the chunks sent again wrote nothing"
    );
    // One life event per new record, one case and one case event per resident of 85.
    assert_eq!(
        tally
            .count("SELECT COUNT(*) FROM life_events WHERE source_kind = 'import'")
            .await,
        80 + 400
    );
    assert_eq!(
        tally
            .count("SELECT COUNT(*) FROM cases WHERE case_type = 'elderly_allowance'")
            .await,
        40
    );
    if backend == Backend::Postgres {
        // What was staged by COPY went into the tables in the chunk's transaction and is gone.
        for table in ["import_staging_houses", "import_staging_residents"] {
            let left = tally.count(&format!("SELECT COUNT(*) FROM {table}")).await;
            assert_eq!(left, 0, "{table} keeps nothing after the chunks");
        }
    }
    after
}

#[tokio::test]
async fn a_chunk_sent_again_changes_nothing_on_postgresql_and_sqlite_alike() {
    let postgres = a_chunk_sent_again_changes_nothing(Backend::Postgres).await;
    let sqlite = a_chunk_sent_again_changes_nothing(Backend::Sqlite).await;
    // The demo district differs by nothing between the two: the same counts everywhere but the
    // evidence log, which is as long on both too.
    assert_eq!(postgres, sqlite);
}

async fn a_bad_row_in_the_middle_refuses_all(backend: Backend) {
    let w = spawn_world_on(backend).await;
    let grid = w.example().grid;
    let officer = w.officer();
    let tally = Tally::of(&w).await;
    let (status, p) = import(&w, &officer, "houses", &houses_file(&grid, 8001, 200)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let planned = house(&grid, 8300);
    let (status, p) = import(
        &w,
        &officer,
        "houses",
        &format!("code,address,status,registered_size\n{planned},future,planned,4\n"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let before = tally.all().await;
    // 1,000 good rows, but line 502 names a house nobody registered and line 803 one nobody
    // can live in yet (the file's lines: the header is line 1).
    let mut lines: Vec<String> = residents_file(&grid, 8001, 1_000)
        .lines()
        .map(str::to_owned)
        .collect();
    let unregistered = house(&grid, 8400);
    lines[501] = format!(
        "{},Nobody,{unregistered}",
        lines[501].split(',').next().unwrap()
    );
    lines[802] = format!("{},Early,{planned}", lines[802].split(',').next().unwrap());
    let csv = lines.join("\n") + "\n";
    let (status, p) = import(&w, &officer, "residents", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["bad_line_count"], 2, "{p}");
    let listed: Vec<u64> = p["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [502, 803], "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("not registered") && detail.contains("nobody can live there"),
        "{detail}"
    );
    assert_eq!(
        tally.all().await,
        before,
        "nothing of the chunk was written"
    );
}

#[tokio::test]
async fn a_bad_row_in_the_middle_of_a_chunk_refuses_all_of_it_on_postgresql() {
    a_bad_row_in_the_middle_refuses_all(Backend::Postgres).await;
}

#[tokio::test]
async fn a_bad_row_in_the_middle_of_a_chunk_refuses_all_of_it_on_sqlite() {
    a_bad_row_in_the_middle_refuses_all(Backend::Sqlite).await;
}

async fn every_imported_record_has_its_evidence(backend: Backend) {
    let w = spawn_world_on(backend).await;
    let grid = w.example().grid;
    let officer = w.officer();
    let tally = Tally::of(&w).await;
    let (status, houses) = import(&w, &officer, "houses", &houses_file(&grid, 8001, 20)).await;
    assert_eq!(status, StatusCode::CREATED, "{houses}");
    let csv = residents_file(&grid, 8001, 100);
    let (status, report) = import(&w, &officer, "residents", &csv).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["cases_raised"], 10);

    // Each chunk's evidence record proves its bytes, and every record it created points to it.
    for (kind, report, body, created) in [
        ("houses", &houses, houses_file(&grid, 8001, 20), 20),
        ("residents", &report, csv, 100),
    ] {
        let seq = report["evidence_seq"].as_i64().unwrap();
        let import_id = report["import_id"].as_str().unwrap();
        let record = zw_evidence::record(&tally.db, seq).await.unwrap().unwrap();
        assert_eq!(record.action, format!("import.{kind}"));
        assert_eq!(record.object, format!("import/{import_id}"));
        let payload = serde_json::json!({
            "kind": kind,
            "body_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())),
            "rows": created,
        });
        assert_eq!(record.payload_hash, zw_evidence::payload_hash(&payload));
        assert_eq!(
            tally
                .count(&format!(
                    "SELECT COUNT(*) FROM life_events WHERE source_ref = '{import_id}' \
                     AND evidence_seq = {seq} AND change = 'imported'"
                ))
                .await,
            created
        );
    }
    // Every case its own evidence record and event.
    let (status, cases) = w.get(&officer, "/api/v1/grid/cases").await;
    assert_eq!(status, StatusCode::OK, "{cases}");
    let cases = cases["items"].as_array().unwrap();
    assert_eq!(cases.len(), 10, "{cases:?}");
    for case in cases {
        let object = format!("case/{}", case["id"].as_str().unwrap());
        let records = zw_evidence::records_for_object(&tally.db, &object)
            .await
            .unwrap();
        assert_eq!(records.len(), 1, "{object}");
        assert_eq!(records[0].action, "case.raised");
    }
    assert_eq!(tally.all().await[5], 10, "one event per case");
    // And the log verifies from its first record, signed heads and all.
    let (status, keys) = w.get(&officer, "/api/v1/grid/evidence/keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let keys: zw_evidence::PublishedKeys = serde_json::from_value(keys).unwrap();
    let trusted = zw_evidence::TrustedKeys::from_published(&keys).unwrap();
    let verified = zw_evidence::verify_stored(&tally.db, &trusted)
        .await
        .unwrap();
    assert_eq!(verified.records, tally.all().await[4]);
}

#[tokio::test]
async fn every_imported_record_has_its_evidence_and_the_log_verifies_on_postgresql() {
    every_imported_record_has_its_evidence(Backend::Postgres).await;
}

#[tokio::test]
async fn every_imported_record_has_its_evidence_and_the_log_verifies_on_sqlite() {
    every_imported_record_has_its_evidence(Backend::Sqlite).await;
}
