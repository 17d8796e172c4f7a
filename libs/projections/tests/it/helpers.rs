//! A migrated tally database; the codes of the small district and its declaration events come
//! from `zw_testkit::codes` and `zw_testkit::events`.

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use zw_bus::{EventHandler, HandlerError};
use zw_contracts::Envelope;
use zw_platform::db::BeginWrite;
use zw_projections::{DeclarationCounts, DeclarationTally};
use zw_testkit::TestDb;
use zw_testkit::codes::code;

/// Just the projection's migration, as each centre's own migrator includes it.
struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        zw_projections::migration::migrations()
    }
}

/// A fresh database with the tally table, and the handler the centres' consumers run.
pub struct Tally {
    db: TestDb,
}

impl Tally {
    pub async fn postgres() -> Tally {
        Self::migrated(TestDb::postgres().await).await
    }

    pub async fn sqlite() -> Tally {
        Self::migrated(TestDb::sqlite().await).await
    }

    async fn migrated(db: TestDb) -> Tally {
        Migrator::up(&db.conn, None).await.expect("migrate");
        Tally { db }
    }

    /// Apply one event in its own transaction, as the inbox consumer does.
    pub async fn apply(&self, env: &Envelope) {
        self.try_apply(env)
            .await
            .unwrap_or_else(|e| panic!("applying {} failed: {e}", env.event_type));
    }

    /// Apply one event; on error the transaction is rolled back.
    pub async fn try_apply(&self, env: &Envelope) -> Result<(), HandlerError> {
        let txn = self.db.conn.begin_write().await.expect("begin");
        match DeclarationTally.handle(&txn, env).await {
            Ok(()) => {
                txn.commit().await.expect("commit");
                Ok(())
            }
            Err(e) => {
                txn.rollback().await.expect("rollback");
                Err(e)
            }
        }
    }

    /// The counts under the code `under`.
    pub async fn under(&self, under: &str) -> DeclarationCounts {
        zw_projections::counts_under(&self.db.conn, &code(under))
            .await
            .expect("counts")
    }
}

/// Counts in the order pending, accepted, rejected (the total is their sum).
pub fn counts(pending: i64, accepted: i64, rejected: i64) -> DeclarationCounts {
    DeclarationCounts {
        pending,
        accepted,
        rejected,
        total: pending + accepted + rejected,
    }
}

/// Run a scenario `async fn name(t: Tally)` on PostgreSQL and on SQLite, as
/// `name::on_postgres` and `name::on_sqlite`.
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_postgres() {
                super::$name($crate::helpers::Tally::postgres().await).await;
            }

            #[tokio::test]
            async fn on_sqlite() {
                super::$name($crate::helpers::Tally::sqlite().await).await;
            }
        }
    )+};
}
pub(crate) use on_both_databases;
