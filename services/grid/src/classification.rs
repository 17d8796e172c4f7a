//! A house's class (分类分级分色) and the tail of every change of a house: the ledger, then the
//! classification rules on the house's [`facts`], then the collection rules. Houses change
//! through their own routes, and also when something the rules look at changes elsewhere: an
//! incident reported at a house or resolved there classifies it again ([`reclassify_house`]) in
//! the incident's transaction.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use zw_contracts::DeclarationStatus;
use zw_domain::HouseCode;

use crate::access::stored_grid;
use crate::error::ApiError;
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::model::{declaration, house, incident, resident};
use crate::rules;
use crate::write::Record;

/// The flat dotted facts the rules look at for house `h` (see [`crate::rules`]).
pub async fn facts(
    conn: &impl ConnectionTrait,
    h: &house::Model,
    previous_status: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let residents = resident::Entity::find()
        .filter(resident::Column::HouseCode.eq(h.code.as_str()))
        .count(conn)
        .await?;
    let pending = declaration::Entity::find()
        .filter(declaration::Column::HouseCode.eq(h.code.as_str()))
        .filter(declaration::Column::Status.eq(DeclarationStatus::Pending.as_str()))
        .count(conn)
        .await?;
    let open_incidents = incident::Entity::find()
        .filter(incident::Column::HouseCode.eq(h.code.as_str()))
        .filter(incident::Column::Status.is_in(incident::OPEN))
        .count(conn)
        .await?;
    Ok(facts_with(
        h,
        previous_status,
        residents,
        pending,
        open_incidents,
    ))
}

/// [`facts`] from counts already known (a bulk import knows a new house has none of them).
pub fn facts_with(
    h: &house::Model,
    previous_status: Option<&str>,
    residents: u64,
    pending: u64,
    open_incidents: u64,
) -> serde_json::Value {
    serde_json::json!({
        "house.status": h.status,
        "house.previous_status": previous_status,
        "house.legal": h.legal,
        "house.category": h.category,
        "house.registered_size": h.registered_size,
        "house.residents": residents,
        "house.pending_declarations": pending,
        "house.not_seen": h.not_seen,
        "house.open_incidents": open_incidents,
    })
}

/// Store the classification the current rules give `h`, if any and if different.
pub async fn classify(
    txn: &DatabaseTransaction,
    h: house::Model,
    facts: &serde_json::Value,
) -> Result<(house::Model, bool), ApiError> {
    let Some(c) = rules::classify(txn, facts).await? else {
        return Ok((h, false));
    };
    if h.class_level.as_deref() == Some(c.level.as_str())
        && h.colour.as_deref() == Some(c.colour.as_str())
        && h.classified_by_rules == Some(c.rules_version)
    {
        return Ok((h, false));
    }
    let mut am: house::ActiveModel = h.into();
    am.class_level = Set(Some(c.level));
    am.colour = Set(Some(c.colour));
    am.classified_by_rules = Set(Some(c.rules_version));
    Ok((am.update(txn).await?, true))
}

/// After the row is written (with its new version): the ledger, the classification, the rules.
pub async fn recorded(
    txn: &DatabaseTransaction,
    source: &Source,
    h: house::Model,
    change: &str,
    previous_status: Option<&str>,
    details: serde_json::Value,
) -> Result<house::Model, ApiError> {
    let grid = stored_grid(&h.grid_code)?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::House,
            key: &h.code,
            change,
            state: &h.status,
            house_code: Some(&h.code),
            grid: &grid,
            version: h.version,
            details,
        },
    )
    .await?;
    let facts = facts(txn, &h, previous_status).await?;
    let (h, _) = classify(txn, h, &facts).await?;
    rules::on_change(
        txn,
        source,
        rules::Trigger {
            kind: SubjectKind::House,
            key: &h.code,
            grid: &grid,
            change,
            facts,
        },
    )
    .await?;
    Ok(h)
}

/// The row as `am` with the version bumped and `updated_at` now, written.
pub async fn bump(
    txn: &DatabaseTransaction,
    h: &house::Model,
    mut am: house::ActiveModel,
) -> Result<house::Model, ApiError> {
    am.version = Set(h.version + 1);
    am.updated_at = Set(Some(Utc::now()));
    Ok(am.update(txn).await?)
}

/// Store the class the current rules give `h`; when it changed, a new version of the house and a
/// `reclassified` life event. Whether it changed.
pub async fn reclassify_one(
    txn: &DatabaseTransaction,
    source: &Source,
    h: house::Model,
) -> Result<bool, ApiError> {
    let facts = facts(txn, &h, None).await?;
    let before = h.clone();
    let (after, changed) = classify(txn, h, &facts).await?;
    if !changed {
        return Ok(false);
    }
    let after = bump(txn, &before, after.into()).await?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::House,
            key: &after.code,
            change: "reclassified",
            state: &after.status,
            house_code: Some(&after.code),
            grid: &stored_grid(&after.grid_code)?,
            version: after.version,
            details: serde_json::json!({
                "class_level": after.class_level,
                "colour": after.colour,
                "rules_version": after.classified_by_rules,
            }),
        },
    )
    .await?;
    Ok(true)
}

/// Classify house `code` again inside `txn` after something outside its own record that the
/// rules look at changed (an incident reported there or resolved). The house row is locked
/// first, so that two such changes at once each count the other.
pub async fn reclassify_house(
    txn: &DatabaseTransaction,
    source: &Source,
    code: &str,
) -> Result<(), ApiError> {
    let code = HouseCode::parse(code)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored house code: {e}")))?;
    let Some(h) = <house::Model as Record>::lock(txn, &code).await? else {
        return Ok(());
    };
    if h.status != "demolished" {
        reclassify_one(txn, source, h).await?;
    }
    Ok(())
}
