//! The historical population register: who the district has on record, by resident ID number.
//! At city scale this table holds ~10^8 rows; lookups are by primary key only.

use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, sea_query::OnConflict};
use zw_contracts::rpc::{PopulationLookup, PopulationLookupReply, PopulationRecord, RpcError};
use zw_domain::{HouseCode, IdNumber};

/// One person on record.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "population_register")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_number: String,
    pub name: String,
    pub registered_house_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A person to put on record.
#[derive(Debug, Clone)]
pub struct RegisterEntry {
    pub id_number: IdNumber,
    pub name: String,
    pub registered_house: Option<HouseCode>,
}

/// Insert entries that are not on record yet (idempotent), in chunks.
pub async fn load(db: &DatabaseConnection, entries: &[RegisterEntry]) -> Result<u64, DbErr> {
    let mut inserted = 0;
    for chunk in entries.chunks(500) {
        let models = chunk.iter().map(|e| ActiveModel {
            id_number: sea_orm::Set(e.id_number.to_string()),
            name: sea_orm::Set(e.name.clone()),
            registered_house_code: sea_orm::Set(e.registered_house.as_ref().map(|h| h.to_string())),
        });
        let res = Entity::insert_many(models)
            .on_conflict(OnConflict::column(Column::IdNumber).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
        inserted += res;
    }
    Ok(inserted)
}

/// Look a person up.
pub async fn find(db: &DatabaseConnection, id: &IdNumber) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id.to_string()).one(db).await
}

/// Serve `zw.rpc.district.population.lookup` (a queue group: replicas share the load).
pub async fn serve_lookup(
    bus: &zw_bus::Bus,
    db: DatabaseConnection,
) -> Result<tokio::task::JoinHandle<()>, zw_bus::BusError> {
    bus.serve::<PopulationLookup, _, _>(move |req| {
        let db = db.clone();
        async move {
            let id = IdNumber::parse(&req.id_number).map_err(|e| RpcError {
                code: "invalid-input".into(),
                message: e.to_string(),
            })?;
            let record = find(&db, &id).await.map_err(|e| {
                tracing::error!(error = %e, "population lookup failed");
                RpcError {
                    code: "internal".into(),
                    message: "lookup failed".into(),
                }
            })?;
            Ok(PopulationLookupReply {
                record: record.map(|m| PopulationRecord {
                    id_number: m.id_number,
                    name: m.name,
                    registered_house_code: m.registered_house_code,
                }),
            })
        }
    })
    .await
}
