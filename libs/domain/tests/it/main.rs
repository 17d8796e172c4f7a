//! Integration tests of zw-domain against a real database (feature `db`): the code types are
//! entity columns, round-trip through SQLite, and a stored value that no longer parses is an
//! error, not a panic.

#[cfg(feature = "db")]
mod db;
