//! A migrated tally database, typed declaration events and the codes of a small district.

use sea_orm::TransactionTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use uuid::Uuid;
use zw_bus::{EventHandler, HandlerError};
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::JurisdictionCode;
use zw_projections::{DeclarationCounts, DeclarationTally};
use zw_testkit::TestDb;

/// The district of the default settings, one of its streets, a community and two of its grids;
/// a grid of another community of the same street; a grid of a sibling street.
pub const DISTRICT: &str = "440304";
pub const STREET: &str = "440304001";
pub const COMMUNITY: &str = "440304001001";
pub const GRID: &str = "440304001001001";
pub const NEIGHBOUR_GRID: &str = "440304001001002";
pub const OTHER_COMMUNITY_GRID: &str = "440304001002001";
pub const SIBLING_STREET: &str = "440304002";
pub const SIBLING_STREET_GRID: &str = "440304002001001";

/// Just the projection's migration, as each centre's own migrator includes it.
struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(zw_projections::migration::CreateDeclarationTally)]
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
        let txn = self.db.conn.begin().await.expect("begin");
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

    /// The counts under `code`.
    pub async fn under(&self, code: &str) -> DeclarationCounts {
        zw_projections::counts_under(&self.db.conn, &code_of(code))
            .await
            .expect("counts")
    }
}

pub fn code_of(code: &str) -> JurisdictionCode {
    JurisdictionCode::parse(code).expect("a valid code")
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

/// One declaration, as the grid service reports it.
#[derive(Clone, Copy)]
pub struct Declaration {
    pub id: Uuid,
    grid: &'static str,
}

impl Declaration {
    pub fn in_grid(grid: &'static str) -> Declaration {
        Declaration {
            id: Uuid::now_v7(),
            grid,
        }
    }

    /// `declaration.submitted` with `status`, version 1.
    pub fn submitted(&self, status: DeclarationStatus) -> Envelope {
        self.envelope(Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: self.id,
            house_code: format!("{}00017", self.grid),
            status,
            version: 1,
            reasons: match status {
                DeclarationStatus::Pending => vec!["unknown_id".to_owned()],
                _ => Vec::new(),
            },
        }))
    }

    /// `declaration.status_changed` from `from` to `to`, reaching `version`.
    pub fn changed(
        &self,
        from: DeclarationStatus,
        to: DeclarationStatus,
        version: i64,
    ) -> Envelope {
        self.envelope(Event::DeclarationStatusChanged(DeclarationStatusChanged {
            declaration_id: self.id,
            from,
            to,
            version,
            reason: (to == DeclarationStatus::Rejected).then(|| "nobody lives here".to_owned()),
        }))
    }

    fn envelope(&self, event: Event) -> Envelope {
        Envelope::new(&event, code_of(self.grid), Actor::system("test-grid"))
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
