//! Where people live: the one place a person is recorded, moves in, moves out or dies, in the
//! caller's transaction, each step a life event (with evidence and an outbox event) followed by
//! the collection rules. The people routes and accepted declarations both come here.
//!
//! A person is a `persons` row (UUID in URLs and events, never the ID number); where he lives now
//! is his `residents` row (one while he lives somewhere), which the declaration rules count per
//! house.

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;
use zw_auth::Principal;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};

use crate::access::{PERSONS, stored_grid};
use crate::error::ApiError;
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::locks::lock_row;
use crate::model::{house, person, resident};
use crate::rules;
use crate::write::Asked;

/// Age in whole years on `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    if today < birth {
        return 0;
    }
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Someone arriving in a house.
pub struct Arrival<'a> {
    pub id_number: &'a IdNumber,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub house: &'a house::Model,
    /// The declaration that moves him in, if any.
    pub declaration_id: Option<Uuid>,
}

/// The facts the collection rules see after a step (the house: the one moved into, or left).
async fn facts(
    txn: &DatabaseTransaction,
    p: &person::Model,
    house: Option<&house::Model>,
) -> Result<serde_json::Value, ApiError> {
    let age = age_on(p.birth_date, Utc::now().date_naive());
    let Some(h) = house else {
        return Ok(facts_with(age, &p.status, None));
    };
    let residents = resident::Entity::find()
        .filter(resident::Column::HouseCode.eq(h.code.clone()))
        .count(txn)
        .await?;
    Ok(facts_with(
        age,
        &p.status,
        Some(HouseFacts {
            code: &h.code,
            residents,
            registered_size: h.registered_size,
            status: &h.status,
        }),
    ))
}

/// What the collection rules see of a person's house.
pub struct HouseFacts<'a> {
    pub code: &'a str,
    /// Counted after the change.
    pub residents: u64,
    pub registered_size: i32,
    pub status: &'a str,
}

/// [`facts`] from what is already known (a bulk import counts a whole chunk's houses at once).
pub fn facts_with(age: u32, status: &str, house: Option<HouseFacts<'_>>) -> serde_json::Value {
    let mut f = serde_json::json!({
        "person.age": age,
        "person.status": status,
    });
    if let Some(h) = house {
        f["house.code"] = h.code.into();
        f["house.residents"] = h.residents.into();
        f["house.registered_size"] = h.registered_size.into();
        f["house.status"] = h.status.into();
    }
    f
}

async fn after_change(
    txn: &DatabaseTransaction,
    source: &Source,
    p: &person::Model,
    house: Option<&house::Model>,
    change: &str,
) -> Result<(), ApiError> {
    let grid = stored_grid(&p.grid_code)?;
    let key = p.id.to_string();
    rules::on_change(
        txn,
        source,
        rules::Trigger {
            kind: SubjectKind::Person,
            key: &key,
            grid: &grid,
            change,
            facts: facts(txn, p, house).await?,
        },
    )
    .await?;
    Ok(())
}

async fn place_resident(
    txn: &DatabaseTransaction,
    p: &person::Model,
    house: &house::Model,
    declaration_id: Option<Uuid>,
) -> Result<(), sea_orm::DbErr> {
    resident::Entity::delete_by_id(p.id_number.clone())
        .exec(txn)
        .await?;
    resident::ActiveModel {
        id_number: Set(p.id_number.clone()),
        name: Set(p.name.clone()),
        house_code: Set(house.code.clone()),
        grid_code: Set(house.grid_code.clone()),
        declaration_id: Set(declaration_id),
        since: Set(Utc::now()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Record a person nobody recorded yet, living in `arrival.house`; his first step is `change`
/// (`born`, `registered`, or `moved_in` through a declaration).
pub async fn record_new(
    txn: &DatabaseTransaction,
    source: &Source,
    arrival: Arrival<'_>,
    change: &str,
) -> Result<person::Model, ApiError> {
    let now = Utc::now();
    let p = person::ActiveModel {
        id: Set(Uuid::now_v7()),
        id_number: Set(arrival.id_number.to_string()),
        name: Set(arrival.name),
        birth_date: Set(arrival.id_number.birth_date()),
        phone: Set(arrival.phone),
        status: Set("alive".into()),
        grid_code: Set(arrival.house.grid_code.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    place_resident(txn, &p, arrival.house, arrival.declaration_id).await?;
    let key = p.id.to_string();
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change,
            state: "alive",
            house_code: Some(&arrival.house.code),
            grid: &stored_grid(&arrival.house.grid_code)?,
            version: 1,
            details: serde_json::json!({}),
        },
    )
    .await?;
    after_change(txn, source, &p, Some(arrival.house), change).await?;
    Ok(p)
}

/// Move a recorded person (locked by the caller) into `house`: `moved_out` of where he lived (if
/// anywhere) and `moved_in`; one new version. Moving into the house he lives in only ties his
/// residence to the declaration.
pub async fn relocate(
    txn: &DatabaseTransaction,
    source: &Source,
    p: person::Model,
    house: &house::Model,
    declaration_id: Option<Uuid>,
) -> Result<person::Model, ApiError> {
    if p.status == "dead" {
        return Err(deceased(&p));
    }
    let current = resident::Entity::find_by_id(p.id_number.clone())
        .one(txn)
        .await?;
    if current.as_ref().is_some_and(|r| r.house_code == house.code) {
        place_resident(txn, &p, house, declaration_id).await?;
        return Ok(p);
    }
    let version = p.version + 1;
    let key = p.id.to_string();
    let mut am: person::ActiveModel = p.into();
    am.grid_code = Set(house.grid_code.clone());
    am.version = Set(version);
    am.updated_at = Set(Utc::now());
    let p = am.update(txn).await?;
    if let Some(old) = &current {
        ledger::record(
            txn,
            source,
            Step {
                kind: SubjectKind::Person,
                key: &key,
                change: "moved_out",
                state: "alive",
                house_code: Some(&old.house_code),
                grid: &stored_grid(&old.grid_code)?,
                version,
                details: serde_json::json!({ "to_house": house.code }),
            },
        )
        .await?;
    }
    place_resident(txn, &p, house, declaration_id).await?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change: "moved_in",
            state: "alive",
            house_code: Some(&house.code),
            grid: &stored_grid(&house.grid_code)?,
            version,
            details: serde_json::json!({ "from_house": current.as_ref().map(|r| &r.house_code) }),
        },
    )
    .await?;
    after_change(txn, source, &p, Some(house), "moved_in").await?;
    Ok(p)
}

/// Who moves a person in through a declaration.
pub enum Mover<'a> {
    /// His own declaration (a citizen declaring himself): it may bring him from any grid.
    Himself,
    /// Anyone else's (a household member's, his landlord's, staff at the door), decided by
    /// `principal`: it brings him from another grid only if `principal` may move him from there
    /// (see [`crate::access`]).
    By {
        principal: &'a Principal,
        district: &'a JurisdictionCode,
    },
}

/// The one way a person moves into a house through a declaration: recorded if unknown (alive,
/// birth date from the ID number, first step `moved_in`), else moved from where he lived — from
/// another grid only as [`Mover`] allows. The caller has checked the house is in use; this
/// locks the house (then the person) so residents are counted right.
pub async fn move_in(
    txn: &DatabaseTransaction,
    source: &Source,
    arrival: Arrival<'_>,
    mover: Mover<'_>,
) -> Result<person::Model, ApiError> {
    lock_row(txn, "houses", "code", arrival.house.code.as_str()).await?;
    lock_row(txn, "persons", "id_number", arrival.id_number.as_str()).await?;
    match person::Entity::find()
        .filter(person::Column::IdNumber.eq(arrival.id_number.as_str()))
        .one(txn)
        .await?
    {
        Some(p) => {
            if let Mover::By {
                principal,
                district,
            } = mover
                && p.grid_code != arrival.house.grid_code
            {
                let destination = stored_grid(&arrival.house.grid_code)?;
                let asked = Asked {
                    principal,
                    key: &p.id,
                    destination: Some(&destination),
                    district,
                };
                PERSONS.authorize_change(&asked, &stored_grid(&p.grid_code)?)?;
            }
            relocate(txn, source, p, arrival.house, arrival.declaration_id).await
        }
        None => record_new(txn, source, arrival, "moved_in").await,
    }
}

/// Whether the grid database keeps the record of the person `id_number` in a grid other than
/// `grid` (a declaration not his own then cannot be accepted by the register alone).
pub async fn recorded_elsewhere(
    conn: &impl ConnectionTrait,
    id_number: &IdNumber,
    grid: &str,
) -> Result<bool, ApiError> {
    let held: Option<String> = person::Entity::find()
        .select_only()
        .column(person::Column::GridCode)
        .filter(person::Column::IdNumber.eq(id_number.as_str()))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(held.is_some_and(|g| g != grid))
}

pub fn deceased(p: &person::Model) -> ApiError {
    ApiError::conflict(
        "person-deceased",
        format!("person {} has died: no further step is possible", p.id),
    )
}

/// He leaves the house he lives in (`moved_out`) or dies (`died`): the residents row goes.
pub async fn depart(
    txn: &DatabaseTransaction,
    source: &Source,
    p: person::Model,
    change: &str,
    details: serde_json::Value,
) -> Result<person::Model, ApiError> {
    let current = resident::Entity::find_by_id(p.id_number.clone())
        .one(txn)
        .await?;
    if change == "moved_out" && current.is_none() {
        return Err(ApiError::conflict(
            "not-resident",
            format!("person {} lives in no house to move out of", p.id),
        ));
    }
    let state = if change == "died" { "dead" } else { "alive" };
    let version = p.version + 1;
    let key = p.id.to_string();
    let mut am: person::ActiveModel = p.into();
    am.status = Set(state.into());
    am.version = Set(version);
    am.updated_at = Set(Utc::now());
    let p = am.update(txn).await?;
    resident::Entity::delete_by_id(p.id_number.clone())
        .exec(txn)
        .await?;
    let house = match &current {
        Some(r) => {
            house::Entity::find_by_id(r.house_code.clone())
                .one(txn)
                .await?
        }
        None => None,
    };
    let grid = match &current {
        Some(r) => stored_grid(&r.grid_code)?,
        None => stored_grid(&p.grid_code)?,
    };
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change,
            state,
            house_code: current.as_ref().map(|r| r.house_code.as_str()),
            grid: &grid,
            version,
            details,
        },
    )
    .await?;
    after_change(txn, source, &p, house.as_ref(), change).await?;
    Ok(p)
}

/// The house `code`, which people can live in (422 `unknown-house` / `house-not-in-use`).
pub async fn house_in_use(
    conn: &impl ConnectionTrait,
    code: &HouseCode,
) -> Result<house::Model, ApiError> {
    let h = house::Entity::find_by_id(code.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::UnknownHouse(code.to_string()))?;
    if !h.is_in_use() {
        return Err(ApiError::HouseNotInUse {
            code: h.code,
            status: h.status,
        });
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years() {
        let birth = NaiveDate::from_ymd_opt(1946, 6, 15).unwrap();
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap()),
            79
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()),
            80
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(1940, 1, 1).unwrap()),
            0
        );
    }
}
