//! Creates the evidence tables (frozen: later changes get their own migration).
//!
//! - `evidence_records`: the chain, one row per record, keyed by `seq`; indexed by `object`.
//! - `evidence_tree_heads`: every signed tree head, keyed by `tree_size`.
//! - `evidence_merkle_nodes`: the perfect Merkle subtrees of level ≥ 1, keyed by
//!   `(level, idx)`, written as they complete; proofs read O(log² n) of them.
//! - `evidence_head`: one row (`id` = 1) with the last `seq`, its hash and the Merkle frontier.
//!   Every append updates it first, so its row lock serialises appends.
//!
//! The first three are append-only: triggers refuse UPDATE and DELETE (an honest bug cannot
//! rewrite evidence; a dishonest administrator who drops the triggers is caught by
//! verification).

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use crate::record::GENESIS_PREV_HASH;

/// Creates `evidence_records`, `evidence_tree_heads`, `evidence_merkle_nodes` and
/// `evidence_head`, with append-only triggers, on PostgreSQL or SQLite.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000100_create_evidence"
    }
}

const APPEND_ONLY_TABLES: [&str; 3] = [
    "evidence_records",
    "evidence_tree_heads",
    "evidence_merkle_nodes",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        if !matches!(backend, DbBackend::Postgres | DbBackend::Sqlite) {
            return Err(DbErr::Migration(
                "zw-evidence supports PostgreSQL and SQLite".into(),
            ));
        }
        manager
            .create_table(
                Table::create()
                    .table("evidence_records")
                    .col(ColumnDef::new("seq").big_integer().not_null().primary_key())
                    .col(ColumnDef::new("actor").text().not_null())
                    .col(ColumnDef::new("action").text().not_null())
                    .col(ColumnDef::new("object").text().not_null())
                    .col(ColumnDef::new("payload_hash").string_len(64).not_null())
                    .col(
                        ColumnDef::new("recorded_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new("prev_hash").string_len(64).not_null())
                    .col(ColumnDef::new("record_hash").string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_evidence_records_object")
                    .table("evidence_records")
                    .col("object")
                    .col("seq")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("evidence_tree_heads")
                    .col(
                        ColumnDef::new("tree_size")
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("root_hash").string_len(64).not_null())
                    .col(
                        ColumnDef::new("signed_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new("key_id").text().not_null())
                    .col(ColumnDef::new("public_key").text().not_null())
                    .col(ColumnDef::new("signature").text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("evidence_merkle_nodes")
                    .col(ColumnDef::new("level").small_integer().not_null())
                    .col(ColumnDef::new("idx").big_integer().not_null())
                    .col(ColumnDef::new("hash").string_len(64).not_null())
                    .primary_key(Index::create().col("level").col("idx"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("evidence_head")
                    .col(
                        ColumnDef::new("id")
                            .small_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("seq").big_integer().not_null())
                    .col(ColumnDef::new("last_hash").string_len(64).not_null())
                    .col(ColumnDef::new("frontier").text().not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO evidence_head (id, seq, last_hash, frontier) \
             VALUES (1, 0, '{GENESIS_PREV_HASH}', '')"
        ))
        .await?;

        match backend {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       RAISE EXCEPTION 'evidence is append-only: % on % refused', TG_OP, TG_TABLE_NAME \
                         USING ERRCODE = 'restrict_violation'; \
                     END $$",
                )
                .await?;
                for table in APPEND_ONLY_TABLES {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION evidence_append_only()"
                    ))
                    .await?;
                }
            }
            _ => {
                for table in APPEND_ONLY_TABLES {
                    for op in ["update", "delete"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{op} BEFORE {op} ON {table} \
                             BEGIN SELECT RAISE(ABORT, 'evidence is append-only: {op} on {table} refused'); END"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "evidence_head",
            "evidence_merkle_nodes",
            "evidence_tree_heads",
            "evidence_records",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS evidence_append_only()")
                .await?;
        }
        Ok(())
    }
}
