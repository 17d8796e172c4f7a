//! Lists a page at a time, the one way: the rows after the cursor (the key of the last row of
//! the page before) in one order, one more than the page holds so that `Page::from_rows` knows
//! whether there is a next page; and the `open` / `closed` / `all` filter of work lists.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::error::ApiError;

/// Which way a list runs along its key.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// Oldest (or lowest code) first: work lists, registers.
    Ascending,
    /// Newest first: what happened lately.
    Descending,
}

/// The page of `query` after `cursor` along `key`: at most `limit + 1` rows.
pub async fn rows<E, C, V>(
    conn: &impl ConnectionTrait,
    query: Select<E>,
    key: C,
    order: Order,
    cursor: Option<V>,
    limit: u64,
) -> Result<Vec<E::Model>, ApiError>
where
    E: EntityTrait,
    C: ColumnTrait,
    V: Into<sea_orm::Value>,
{
    let query = match (cursor, order) {
        (Some(c), Order::Ascending) => query.filter(key.gt(c)),
        (Some(c), Order::Descending) => query.filter(key.lt(c)),
        (None, _) => query,
    };
    let query = match order {
        Order::Ascending => query.order_by_asc(key),
        Order::Descending => query.order_by_desc(key),
    };
    Ok(query.limit(limit + 1).all(conn).await?)
}

/// The `status` filter of a work list (tasks, cases): `open` by default, `closed`, or `all`
/// (`None`: no filter).
pub fn open_or_closed(status: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match status {
        None | Some("open") => Ok(Some("open")),
        Some("closed") => Ok(Some("closed")),
        Some("all") => Ok(None),
        Some(other) => Err(ApiError::InvalidInput(format!(
            "status must be open, closed or all, not {other:?}"
        ))),
    }
}
