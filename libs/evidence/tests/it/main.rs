//! Integration tests of zw-evidence against the real PostgreSQL server and SQLite files.
//!
//! Most tests run once per backend: `<what the test says>::on_postgres` / `::on_sqlite`.

mod helpers;

mod appending;
mod at_commit;
mod checkpoint;
mod proving;
mod running;
mod tampering;
mod verifying;
