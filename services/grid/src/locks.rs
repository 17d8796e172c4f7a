//! Locks that make concurrent changes of one thing take turns on PostgreSQL, held until the
//! transaction ends. SQLite already serialises writers, so there they do nothing.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, PrimaryKeyTrait, Statement,
};

/// Run `sql` (a `SELECT … FOR UPDATE` or an advisory lock, taking `key` as `$1`) in `txn`.
pub(crate) async fn lock(
    txn: &DatabaseTransaction,
    sql: &str,
    key: impl Into<sea_orm::Value>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Lock the row of `table` whose `column` is `key`. `table` and `column` are names from this
/// crate, never input.
pub(crate) async fn lock_row(
    txn: &DatabaseTransaction,
    table: &str,
    column: &str,
    key: impl Into<sea_orm::Value>,
) -> Result<(), DbErr> {
    lock(
        txn,
        &format!("SELECT 1 FROM {table} WHERE {column} = $1 FOR UPDATE"),
        key,
    )
    .await
}

/// [`lock_row`], then read the row as `E`'s model (`None` when there is none): how a write's
/// scoped finder loads the record it changes.
pub(crate) async fn lock_and_read<E, K>(
    txn: &DatabaseTransaction,
    table: &str,
    column: &str,
    key: K,
) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    K: Clone + Into<sea_orm::Value> + Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    lock_row(txn, table, column, key.clone()).await?;
    E::find_by_id(key).one(txn).await
}
