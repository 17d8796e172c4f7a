//! The one write operation: every change the grid makes goes through a [`Write`].
//!
//! A change of a record that exists ([`Write::change`]), in one transaction:
//! 1. lock what the change needs locked before the record ([`Change::prepare`]: a destination
//!    house, so that locks are always taken house first);
//! 2. load and lock the record through its scoped finder ([`Record::lock`]);
//! 3. authorize the caller on the record as it is now, and on its destination when the change
//!    moves it ([`Record::authorize`], then the change's own rule [`Change::authorize`]);
//! 4. check the version the caller saw (`expected_version`: 409 `version-conflict`, so that a
//!    client that was offline reads the record again before anything else is said of it), then
//!    what the record's state allows ([`Change::check`]: a dead person does not move);
//! 5. apply the typed change ([`Change::apply`]); it records its steps through [`Tx`] (the
//!    ledger: life event, evidence record and outbox event, all in this transaction);
//! 6. attach the photos the change came with ([`Record::attach`]) and, for a creation sent with
//!    an `Idempotency-Key`, store the answer under it;
//! 7. append the evidence records the steps noted (all at once, so that the chain's lock is
//!    held only from there to the commit: `zw_evidence::at_commit`), then commit — or roll back at once on any refusal (a transaction merely dropped keeps its locks,
//!    and on SQLite the write lock, until its connection is next used) — and notify the relay.
//!
//! A creation ([`Write::create`]) is the same without a record to lock: it is authorized on where
//! the new record will live ([`Creation::authorize`]). Writes that are not one record's (a rule
//! set, an import) get the transaction, commit and notify ([`Write::run`]); the escalation sweep
//! the transaction alone ([`transaction`]).
//!
//! The skeleton knows no kind of record: the kinds implement [`Record`] (their scoped finders, in
//! [`crate::access`]) and the capabilities their typed [`Change`]s and [`Creation`]s. What it
//! names of the grid is its error type and its state ([`Grid`]: database, relay, district); in
//! libs/ those become parameters when a second service needs the operation.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use serde::Serialize;
use zw_auth::Principal;
use zw_domain::JurisdictionCode;
use zw_platform::db::BeginWrite;

use crate::error::{ApiError, check_version};
use crate::idempotency::{self, IdempotencyKey};
use crate::ledger::{COLLECTION, Source};
use crate::state::Grid;

/// What a change sees of its write: the transaction, who writes and where the change comes from.
pub struct Tx<'a> {
    pub txn: &'a DatabaseTransaction,
    pub principal: &'a Principal,
    pub source: &'a Source,
}

impl std::ops::Deref for Tx<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        self.txn
    }
}

/// A kind of record the operation changes: its scoped finder for writing.
#[async_trait::async_trait]
pub trait Record: Sized + Send + Sync {
    /// What callers name it by (a house code, a person id, a credit code).
    type Key: ?Sized + Sync + Display;
    /// What it is called in problems (`the person`, `house 440304…`).
    fn name(&self) -> String;
    /// Lock the record for the rest of the transaction (PostgreSQL; SQLite serialises writers)
    /// and read it; `None` when there is none.
    async fn lock(txn: &DatabaseTransaction, key: &Self::Key) -> Result<Option<Self>, DbErr>;
    /// The answer for a key that names nothing the caller may see.
    fn not_found(key: &Self::Key) -> ApiError;
    /// Its version (optimistic concurrency for clients that were offline); a kind without one
    /// answers 0 and its changes name none.
    fn version(&self) -> i64 {
        0
    }
    /// May the caller change it as it is now, and move it where the change would? Refusals for
    /// a record the caller may not even see are [`Record::not_found`].
    fn authorize(&self, asked: &Asked<'_, Self::Key>) -> Result<(), ApiError>;
    /// Attach the photos (by hash) a change came with; a kind without photos refuses them.
    async fn attach(&self, tx: &Tx<'_>, photos: &[String]) -> Result<(), ApiError> {
        let _ = tx;
        if photos.is_empty() {
            return Ok(());
        }
        Err(ApiError::unprocessable(
            "photos-not-taken",
            "photos cannot be attached to this kind of record",
        ))
    }
}

/// Who asks to change a record, by which key, and where the change would take it.
pub struct Asked<'a, K: ?Sized> {
    pub principal: &'a Principal,
    pub key: &'a K,
    /// The jurisdiction the record would live in after the change, when it moves.
    pub destination: Option<&'a JurisdictionCode>,
    /// The district the grid database keeps (every destination lies under it).
    pub district: &'a JurisdictionCode,
}

/// What a change or a creation did: the record as it is now, and the answer for the caller.
pub struct Applied<R, O> {
    pub record: R,
    pub output: O,
}

/// What applying a change or a creation gives.
pub type Done<R, O> = Result<Applied<R, O>, ApiError>;

/// A typed change of one record, parsed at the edge.
#[async_trait::async_trait]
pub trait Change<R: Record>: Send + Sync + Sized {
    /// What it answers with.
    type Output: Serialize + Send;
    /// Lock what must be locked before the record (a destination house).
    async fn prepare(&self, tx: &Tx<'_>) -> Result<(), ApiError> {
        let _ = tx;
        Ok(())
    }
    /// Where the record goes when this change moves it.
    fn destination(&self, current: &R) -> Option<JurisdictionCode> {
        let _ = current;
        None
    }
    /// A rule of this change beyond who may change the record (only a grid worker sights a
    /// house; the one who resolved an incident does not verify it).
    fn authorize(&self, principal: &Principal, current: &R) -> Result<(), ApiError> {
        let _ = (principal, current);
        Ok(())
    }
    /// What the record's state must allow (a dead person does not move): checked after the
    /// caller is authorized, so that a refusal never tells a stranger anything, and after the
    /// version.
    fn check(&self, current: &R) -> Result<(), ApiError> {
        let _ = current;
        Ok(())
    }
    /// Write the change and record its steps (through the ledger) inside `tx`.
    async fn apply(self, tx: &Tx<'_>, current: R) -> Done<R, Self::Output>;
}

/// A typed creation of one record, parsed at the edge.
#[async_trait::async_trait]
pub trait Creation: Send + Sync + Sized {
    type Record: Record;
    type Output: Serialize + Send;
    /// May `principal` create it where it will live? Checked before the transaction begins.
    fn authorize(&self, principal: &Principal) -> Result<(), ApiError>;
    /// Write the record and its first step inside `tx` (locking what it needs first).
    async fn apply(self, tx: &Tx<'_>) -> Done<Self::Record, Self::Output>;
}

/// One write of the grid, by a caller, from a source (the REST route, a collected record, a
/// declaration), with the photos and the `Idempotency-Key` it came with. A route takes it as an
/// extractor (the service state and the verified caller); a collected record gets one of its
/// own ([`Write::collected`]) and calls the same route function.
#[derive(Clone)]
pub struct Write {
    grid: web::Data<Grid>,
    pub principal: Principal,
    pub source: Source,
    photos: Vec<String>,
    idempotency: Option<IdempotencyKey>,
}

impl FromRequest for Write {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Write, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let grid = req.app_data::<web::Data<Grid>>().cloned();
        let principal = Principal::from_request(req, payload);
        Box::pin(async move {
            let principal = principal.await?;
            let grid = grid.ok_or_else(|| {
                ApiError::Unexpected(anyhow::anyhow!("the grid's state is not registered"))
            })?;
            Ok(Write::by(grid, principal))
        })
    }
}

impl Write {
    /// A write by `principal` through the REST API.
    pub fn by(grid: web::Data<Grid>, principal: Principal) -> Write {
        Write {
            grid,
            source: Source::of(&principal),
            principal,
            photos: Vec::new(),
            idempotency: None,
        }
    }

    /// The same caller's write of a record collected in the field: recorded as coming from the
    /// collection with the record's client id, attaching its photos.
    pub fn collected(&self, client_id: uuid::Uuid, photos: Vec<String>) -> Write {
        Write {
            grid: self.grid.clone(),
            principal: self.principal.clone(),
            source: Source::of(&self.principal).via(COLLECTION, client_id.to_string()),
            photos,
            idempotency: None,
        }
    }

    /// The same write, answering a retry with the same `Idempotency-Key` as it answered first.
    pub fn idempotent(mut self, key: Option<IdempotencyKey>) -> Write {
        self.idempotency = key;
        self
    }

    /// The service state (for what a change looks up before its transaction).
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Change the record `key` (see the module documentation for the steps).
    /// `seen` is the version the caller last saw, if he says: another one is 409
    /// `version-conflict`.
    pub async fn change<R: Record, C: Change<R>>(
        &self,
        key: &R::Key,
        seen: Option<i64>,
        change: C,
    ) -> Result<C::Output, ApiError> {
        let district = &self.grid.district;
        let photos = &self.photos;
        self.run(async |tx: &Tx<'_>| {
            change.prepare(tx).await?;
            let current = R::lock(tx.txn, key)
                .await?
                .ok_or_else(|| R::not_found(key))?;
            let destination = change.destination(&current);
            current.authorize(&Asked {
                principal: tx.principal,
                key,
                destination: destination.as_ref(),
                district,
            })?;
            change.authorize(tx.principal, &current)?;
            check_version(&current.name(), seen, current.version())?;
            change.check(&current)?;
            let applied = change.apply(tx, current).await?;
            applied.record.attach(tx, photos).await?;
            Ok(applied.output)
        })
        .await
    }

    /// Create a record (see the module documentation).
    pub async fn create<C: Creation>(&self, creation: C) -> Result<C::Output, ApiError> {
        creation.authorize(&self.principal)?;
        let photos = &self.photos;
        let remember = self.idempotency.as_ref();
        self.run(async |tx: &Tx<'_>| {
            let applied = creation.apply(tx).await?;
            applied.record.attach(tx, photos).await?;
            if let Some(key) = remember {
                let body = serde_json::to_value(&applied.output).map_err(anyhow::Error::from)?;
                // A concurrent retry that stored the key first makes this fail (and roll back);
                // `create_once` then answers with the stored response.
                idempotency::store(tx.txn, &tx.principal.subject, key, 201, &body).await?;
            }
            Ok(applied.output)
        })
        .await
    }

    /// [`Write::create`] of what `prepare` makes (it may look things up and refuse), answering
    /// 201 with the record — or, for a retry with the same `Idempotency-Key` and body, with the
    /// first answer, whatever happened since: the retry is answered before anything is looked
    /// up again.
    pub async fn create_once<C: Creation>(
        &self,
        prepare: impl AsyncFnOnce() -> Result<C, ApiError>,
    ) -> Result<Answer, ApiError> {
        let created = async || Answer::created(self.create(prepare().await?).await?);
        let Some(key) = &self.idempotency else {
            return created().await;
        };
        let subject = &self.principal.subject;
        let replay = async || -> Result<Option<Answer>, ApiError> {
            let done = idempotency::replay(&self.grid.db, subject, key).await?;
            Ok(done.map(|(status, body)| Answer { status, body }))
        };
        if let Some(done) = replay().await? {
            return Ok(done);
        }
        match created().await {
            Ok(done) => Ok(done),
            // A concurrent retry with the same key got there first (this attempt lost the race
            // for the key, or found what the other created): answer as it was answered.
            Err(e) => replay().await?.ok_or(e),
        }
    }

    /// A write that is not one record's: `work` in one transaction, committed if it succeeds
    /// and rolled back at once if not; then the relay is notified.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.run_or_discard(async |tx| work(tx).await.map(Kept::Commit))
            .await
    }

    /// [`Write::run`] for work that may decide to keep nothing of what it wrote (a dry run, a file
    /// that changes nothing) and still answer.
    pub async fn run_or_discard<T>(
        &self,
        work: impl AsyncFnOnce(&Tx<'_>) -> Result<Kept<T>, ApiError>,
    ) -> Result<T, ApiError> {
        let (done, committed) =
            transact(&self.grid.db, &self.principal, &self.source, work).await?;
        if committed {
            self.grid.relay.notify();
        }
        Ok(done)
    }
}

/// What a write answers: its status and JSON body, the same for the REST route and for a record
/// collected in the field (which keeps it as the record's answer).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Answer {
    /// 200 with `output`.
    pub fn ok<T: Serialize>(output: T) -> Result<Answer, ApiError> {
        Answer::with(StatusCode::OK, output)
    }

    /// 201 with `output`.
    pub fn created<T: Serialize>(output: T) -> Result<Answer, ApiError> {
        Answer::with(StatusCode::CREATED, output)
    }

    fn with<T: Serialize>(status: StatusCode, output: T) -> Result<Answer, ApiError> {
        let body = serde_json::to_value(output).map_err(anyhow::Error::from)?;
        Ok(Answer { status, body })
    }
}

impl Responder for Answer {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body)
    }
}

/// What a write's work decided to do with what it wrote; its answer either way.
pub enum Kept<T> {
    Commit(T),
    Discard(T),
}

/// `work` in one write transaction (`BEGIN IMMEDIATE` on SQLite), committed if it succeeds and
/// rolled back at once if not. [`Write::run`] notifies the relay after; a caller that is not a
/// request (the escalation sweep, as `principal` a system principal without roles) notifies it
/// once for many.
pub async fn transaction<T>(
    db: &DatabaseConnection,
    principal: &Principal,
    source: &Source,
    work: impl AsyncFnOnce(&Tx<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (done, _) = transact(db, principal, source, async |tx| {
        work(tx).await.map(Kept::Commit)
    })
    .await?;
    Ok(done)
}

/// The transaction under every write: its answer, and whether it was committed.
async fn transact<T>(
    db: &DatabaseConnection,
    principal: &Principal,
    source: &Source,
    work: impl AsyncFnOnce(&Tx<'_>) -> Result<Kept<T>, ApiError>,
) -> Result<(T, bool), ApiError> {
    let txn = db.begin_write().await?;
    let tx = Tx {
        txn: &txn,
        principal,
        source,
    };
    // The records the work noted are appended last, so that the chain's lock is held for the
    // append and the commit only (zw_evidence::at_commit).
    let (result, evidence) = zw_evidence::at_commit::collect(work(&tx)).await;
    match result {
        Ok(Kept::Commit(value)) => {
            if let Err(e) = evidence.write(&txn).await {
                txn.rollback().await?;
                return Err(e.into());
            }
            txn.commit().await?;
            Ok((value, true))
        }
        Ok(Kept::Discard(value)) => {
            txn.rollback().await?;
            Ok((value, false))
        }
        Err(e) => {
            txn.rollback().await?;
            Err(e)
        }
    }
}
