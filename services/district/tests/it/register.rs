//! The historical population register, as the grid service asks it over the bus.

use sea_orm::{EntityTrait, PaginatorTrait};
use zw_bus::BusError;
use zw_district::register::{self, RegisterEntry};
use zw_testkit::codes::GRID;

use crate::helpers::{house_in, id_number, spawn_district};

fn person(sequence: u16, name: &str, house: Option<u16>) -> RegisterEntry {
    RegisterEntry {
        id_number: id_number(sequence),
        name: name.to_owned(),
        registered_house: house.map(|serial| house_in(GRID, serial)),
    }
}

#[tokio::test]
async fn a_person_on_the_register_is_found_by_id_number_over_the_bus() {
    let d = spawn_district().await;
    let people = [
        person(101, "Li Wei", Some(17)),
        person(102, "Wang Fang", None),
    ];
    register::load(&d.db, &people).await.expect("load");

    let li = d
        .lookup(id_number(101).as_str())
        .await
        .expect("an answer")
        .expect("on record");
    assert_eq!(li.id_number, id_number(101).as_str());
    assert_eq!(li.name, "Li Wei");
    assert_eq!(
        li.registered_house_code,
        Some(house_in(GRID, 17).to_string())
    );

    let wang = d
        .lookup(id_number(102).as_str())
        .await
        .expect("an answer")
        .expect("on record");
    assert_eq!(wang.name, "Wang Fang");
    assert_eq!(wang.registered_house_code, None, "no registered house");
}

#[tokio::test]
async fn an_id_number_the_register_does_not_know_is_answered_with_none() {
    let d = spawn_district().await;
    register::load(&d.db, &[person(101, "Li Wei", Some(17))])
        .await
        .expect("load");
    assert_eq!(
        d.lookup(id_number(999).as_str()).await.expect("an answer"),
        None
    );
}

#[tokio::test]
async fn an_invalid_id_number_comes_back_as_an_invalid_input_error() {
    let d = spawn_district().await;
    let valid = id_number(101).to_string();
    let mut wrong_check = valid.clone();
    let last = wrong_check.pop().expect("18 characters");
    wrong_check.push(if last == '0' { '1' } else { '0' });

    for (bad, what) in [
        (wrong_check.as_str(), "wrong check digit"),
        ("12345", "too short"),
        ("44030419840229101", "one digit missing"),
        ("", "empty"),
    ] {
        match d.lookup(bad).await {
            Err(BusError::Remote(e)) => {
                assert_eq!(e.code, "invalid-input", "{what}: {e:?}");
                assert!(!e.message.is_empty(), "{what}: it says why");
            }
            other => panic!("{what}: expected an invalid-input error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn loading_the_register_twice_is_idempotent() {
    let d = spawn_district().await;
    let people = [
        person(101, "Li Wei", Some(17)),
        person(102, "Wang Fang", None),
    ];
    assert_eq!(register::load(&d.db, &people).await.expect("load"), 2);
    assert_eq!(
        register::load(&d.db, &people).await.expect("load again"),
        0,
        "nothing new"
    );

    // A later load adds who is new and leaves who is on record as recorded.
    let later = [
        person(101, "Li Wei (renamed)", None),
        person(103, "Zhang Min", Some(18)),
    ];
    assert_eq!(register::load(&d.db, &later).await.expect("load later"), 1);
    assert_eq!(
        register::Entity::find().count(&d.db).await.expect("count"),
        3
    );
    let li = d
        .lookup(id_number(101).as_str())
        .await
        .expect("an answer")
        .expect("on record");
    assert_eq!(li.name, "Li Wei");
    assert_eq!(
        li.registered_house_code,
        Some(house_in(GRID, 17).to_string())
    );
    assert!(
        d.lookup(id_number(103).as_str())
            .await
            .expect("an answer")
            .is_some()
    );
}

#[tokio::test]
async fn a_large_register_loads_in_chunks_and_every_person_is_found() {
    let d = spawn_district().await;
    let people: Vec<_> = (0..1200)
        .map(|seq| person(seq % 1000, &format!("person {seq}"), None))
        .collect();
    // Sequences repeat past 999: 1000 distinct people, the repeats are no-ops.
    assert_eq!(register::load(&d.db, &people).await.expect("load"), 1000);
    for seq in [0, 499, 500, 999] {
        assert!(
            d.lookup(id_number(seq).as_str())
                .await
                .expect("an answer")
                .is_some(),
            "person {seq}"
        );
    }
}
