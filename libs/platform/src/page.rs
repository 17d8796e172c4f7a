//! Cursor pagination: `?limit=&cursor=`; the cursor is opaque to clients (the last item's key).

use serde::{Deserialize, Serialize};

/// Query parameters of a paginated list.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1–200, default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub const MAX: u64 = 200;

    /// The limit, validated (the error is the message for a 400).
    pub fn limit(&self) -> Result<u64, String> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(n),
            Some(n) => Err(format!(
                "limit must be between 1 and {}, not {n}",
                Self::MAX
            )),
        }
    }
}

/// A page of items.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}
