//! Integration tests of the declaration tally — the projection the community, street and
//! district centres each keep — against real PostgreSQL and SQLite databases. Every scenario
//! runs on both (`…::on_postgres`, `…::on_sqlite`), the way the centres run in production and in
//! `zhiwang up`.

mod helpers;

mod consumer;
mod tally;
