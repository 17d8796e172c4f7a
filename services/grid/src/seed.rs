//! Loading grids and houses: the demo district for `zhiwang up`, and tests.

use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use zw_demo::{DemoDistrict, DemoHouseStatus};

use crate::model::{grid, house};

/// Insert the demo district's grids and houses that are not there yet (idempotent).
pub async fn seed_demo(db: &DatabaseConnection, demo: &DemoDistrict) -> Result<(), DbErr> {
    let grids: Vec<grid::ActiveModel> = demo
        .grids()
        .map(|g| grid::ActiveModel {
            code: Set(g.code.to_string()),
            name: Set(g.name.clone()),
            ..Default::default()
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
