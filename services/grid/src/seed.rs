//! Loading grids and houses: the demo district for `zhiwang up`, and tests.

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use zw_demo::{DemoDistrict, DemoHouseStatus};

use crate::jurisdictions::model::{grid_worker, jurisdiction};
use crate::model::{grid, house};

/// Insert the demo district's streets, communities, grids (with centres and workers) and houses
/// that are not there yet (idempotent).
pub async fn seed_demo(db: &DatabaseConnection, demo: &DemoDistrict) -> Result<(), DbErr> {
    let now = Utc::now();
    let units: Vec<jurisdiction::ActiveModel> = demo
        .streets
        .iter()
        .chain(demo.communities())
        .map(|u| {
            let (lat, lng) = demo.centre(&u.code).unzip();
            jurisdiction::ActiveModel {
                code: Set(u.code.to_string()),
                level: Set(u.code.level().to_string()),
                name: Set(u.name.clone()),
                parent_code: Set(u.code.parent().map(|p| p.to_string()).unwrap_or_default()),
                lat: Set(lat),
                lng: Set(lng),
                updated_at: Set(now),
            }
        })
        .collect();
    for chunk in units.chunks(500) {
        jurisdiction::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(jurisdiction::Column::Code)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let grids: Vec<grid::ActiveModel> = demo
        .grids()
        .map(|g| {
            let (lat, lng) = demo.centre(&g.code).unzip();
            grid::ActiveModel {
                code: Set(g.code.to_string()),
                name: Set(g.name.clone()),
                lat: Set(lat),
                lng: Set(lng),
            }
        })
        .collect();
    for chunk in grids.chunks(500) {
        grid::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(grid::Column::Code)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    // One worker per grid, for the grids that have none yet.
    let staffed: std::collections::HashSet<String> = grid_worker::Entity::find()
        .select_only()
        .column(grid_worker::Column::GridCode)
        .filter(grid_worker::Column::EndedAt.is_null())
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let workers: Vec<grid_worker::ActiveModel> = demo
        .grids()
        .filter(|g| !staffed.contains(g.code.as_str()))
        .map(|g| {
            let (worker, name) = demo.grid_worker(&g.code);
            grid_worker::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                grid_code: Set(g.code.to_string()),
                worker: Set(worker),
                worker_name: Set(Some(name)),
                assigned_at: Set(now),
                ended_at: Set(None),
                assigned_by: Set("system:seed".into()),
            }
        })
        .collect();
    for chunk in workers.chunks(500) {
        grid_worker::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let houses: Vec<house::ActiveModel> = demo
        .all_houses()
        .map(|h| house::ActiveModel {
            code: Set(h.code.to_string()),
            grid_code: Set(h.grid.to_string()),
            address: Set(h.address),
            status: Set(match h.status {
                DemoHouseStatus::Planned => "planned",
                DemoHouseStatus::InUse => "in_use",
                DemoHouseStatus::Rented => "rented",
                DemoHouseStatus::Demolished => "demolished",
            }
            .to_owned()),
            registered_size: Set(i32::from(h.registered_size)),
            ..Default::default()
        })
        .collect();
    for chunk in houses.chunks(500) {
        house::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(house::Column::Code)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
