//! A service's evidence log at run time: the key that signs its heads (from its key file), the
//! sealer, and the guard that keeps checking the stored chain.
//!
//! The guard verifies the whole stored log at start (in the background: a big log takes a
//! while) and again every `evidence.full_verify_every_secs`; between those, each time it seals it
//! first checks the records appended since the last check. On the first mismatch the log is
//! *tampered*: sealing stops (no head is ever signed over an edited record), `/readyz` reports
//! the check `evidence` failing with the reason, an error is logged, and the proof endpoints
//! answer `503 evidence-log-tampered` ([`EvidenceError::Tampered`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Cosignature, Witness};
use crate::error::EvidenceError;
use crate::keys::{KeyFile, KeyFileError, PublishedKeys, TrustedKeys, key_file_path};
use crate::proof::{
    ConsistencyProof, InclusionProof, verify_consistency_proof_across, verify_inclusion_proof,
};
use crate::tree_head::{EvidenceSigner, SignedTreeHead, verify_tree_head};
use crate::verify::ChainCursor;

/// What a service publishes of its log: the latest signed tree head and the key that signs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedHead {
    /// Base64 Ed25519 public key of the current key (every key: `…/evidence/keys`).
    pub public_key: String,
    #[schema(value_type = Object)]
    pub tree_head: SignedTreeHead,
}

/// Whether the stored log was found intact.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Integrity {
    /// Not yet verified since start.
    Unverified,
    Intact,
    /// The reason, as logged and reported.
    Tampered(String),
}

/// How a log signs its checkpoints and whose cosignatures it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointSettings {
    /// The key name of the checkpoints ([`checkpoint::origin`]).
    pub origin: String,
    /// The witnesses whose cosignatures are accepted.
    pub witnesses: Vec<Witness>,
}

impl CheckpointSettings {
    /// Origin `<base>/<service>` (`base` a host name or URL), no witnesses.
    pub fn new(base: &str, service: &str) -> CheckpointSettings {
        CheckpointSettings {
            origin: checkpoint::origin(base, service),
            witnesses: Vec::new(),
        }
    }

    /// From `evidence.checkpoint_origin` (or `grid.public_url`) and `evidence.witnesses`.
    pub fn from_settings(
        settings: &zw_platform::Settings,
        service: &str,
    ) -> Result<CheckpointSettings, EvidenceError> {
        let base = if settings.evidence.checkpoint_origin.trim().is_empty() {
            settings.grid.public_url.as_str()
        } else {
            settings.evidence.checkpoint_origin.trim()
        };
        let witnesses = settings
            .evidence
            .witnesses
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| {
                w.parse::<Witness>()
                    .map_err(|e| EvidenceError::Settings(format!("evidence.witnesses: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CheckpointSettings {
            witnesses,
            ..CheckpointSettings::new(base, service)
        })
    }
}

struct Inner {
    service: String,
    checkpoints: CheckpointSettings,
    db: DatabaseConnection,
    signer: EvidenceSigner,
    keys: PublishedKeys,
    trusted: TrustedKeys,
    integrity: Mutex<Integrity>,
    /// Where the last successful walk ended (`None`: no full walk yet).
    walked: tokio::sync::Mutex<Option<ChainCursor>>,
}

/// A service's evidence log: cheap to clone, one per service.
#[derive(Clone)]
pub struct EvidenceLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EvidenceLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceLog")
            .field("service", &self.inner.service)
            .field("key_id", &self.inner.signer.key_id())
            .finish_non_exhaustive()
    }
}

impl EvidenceLog {
    /// Opens the log of `service` in `db` (migrated), with its key file in `keys_dir`
    /// (see [`load_key_file`]), signing checkpoints as `checkpoints` says.
    pub async fn open(
        db: DatabaseConnection,
        service: &str,
        keys_dir: &Path,
        create_missing_key: bool,
        checkpoints: CheckpointSettings,
    ) -> Result<EvidenceLog, EvidenceError> {
        let file = load_key_file(&db, service, keys_dir, create_missing_key).await?;
        let signer = file.signer().map_err(|detail| KeyFileError::Invalid {
            path: key_file_path(keys_dir, service),
            detail,
        })?;
        let mut keys = file.published();
        keys.checkpoint = Some(crate::keys::CheckpointKey {
            origin: checkpoints.origin.clone(),
            verifier_key: checkpoint::verifier_key(&checkpoints.origin, &signer.public_key()),
        });
        let trusted =
            TrustedKeys::from_published(&keys).map_err(|detail| KeyFileError::Invalid {
                path: key_file_path(keys_dir, service),
                detail,
            })?;
        Ok(EvidenceLog {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                checkpoints,
                db,
                signer,
                keys,
                trusted,
                integrity: Mutex::new(Integrity::Unverified),
                walked: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// [`EvidenceLog::open`] with the service's settings (`evidence.*`).
    pub async fn open_with(
        db: DatabaseConnection,
        service: &str,
        settings: &zw_platform::Settings,
    ) -> Result<EvidenceLog, EvidenceError> {
        Self::open(
            db,
            service,
            &settings.evidence_keys_dir(),
            settings.evidence.create_missing_key,
            CheckpointSettings::from_settings(settings, service)?,
        )
        .await
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Every key that signed this log, as published.
    pub fn keys(&self) -> &PublishedKeys {
        &self.inner.keys
    }

    /// The keys this log's heads must be signed by.
    pub fn trusted(&self) -> &TrustedKeys {
        &self.inner.trusted
    }

    /// Base64 public key of the key that signs now.
    pub fn public_key_base64(&self) -> String {
        self.inner.signer.public_key_base64()
    }

    /// Why the log is considered tampered, if it is.
    pub fn tampered(&self) -> Option<String> {
        match &*self.lock_integrity() {
            Integrity::Tampered(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    fn lock_integrity(&self) -> std::sync::MutexGuard<'_, Integrity> {
        self.inner
            .integrity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ensure_intact(&self) -> Result<(), EvidenceError> {
        match self.tampered() {
            Some(reason) => Err(EvidenceError::Tampered(reason)),
            None => Ok(()),
        }
    }

    /// Marks the log tampered (once) and returns the error to answer with.
    fn found_tampered(&self, reason: String) -> EvidenceError {
        let mut integrity = self.lock_integrity();
        if !matches!(*integrity, Integrity::Tampered(_)) {
            tracing::error!(
                service = %self.inner.service,
                reason = %reason,
                "evidence log tampered: sealing stopped, proofs refused; preserve the database and compare with the monitors' heads"
            );
            *integrity = Integrity::Tampered(reason.clone());
        }
        EvidenceError::Tampered(reason)
    }

    /// Signs the current tree (see [`crate::seal`]) unless the log was found tampered.
    pub async fn seal(&self) -> Result<SignedTreeHead, EvidenceError> {
        self.ensure_intact()?;
        crate::seal(&self.inner.db, &self.inner.signer).await
    }

    /// Seals what is new and returns the head to publish.
    pub async fn publish_head(&self) -> Result<PublishedHead, EvidenceError> {
        let tree_head = self.seal().await?;
        Ok(PublishedHead {
            public_key: self.public_key_base64(),
            tree_head,
        })
    }

    /// The inclusion proofs of records `seqs`, in that order, against the latest signed head
    /// (sealed first when it does not cover them all). Each is checked before it is served: one
    /// that does not verify means the stored log was altered.
    pub async fn inclusion_proofs(
        &self,
        seqs: &[i64],
    ) -> Result<Vec<InclusionProof>, EvidenceError> {
        self.ensure_intact()?;
        let Some(last) = seqs.iter().max() else {
            return Ok(Vec::new());
        };
        let covered = crate::latest_tree_head(&self.inner.db)
            .await?
            .is_some_and(|head| head.tree_size >= *last);
        if !covered {
            self.seal().await?;
        }
        let mut proofs = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let proof = crate::inclusion_proof(&self.inner.db, *seq, None)
                .await
                .map_err(|e| self.tampered_if_corrupt(e))?;
            let checked = match self.inner.trusted.get(&proof.tree_head.key_id) {
                Some(key) => verify_inclusion_proof(&proof, key),
                None => Err(EvidenceError::ProofInvalid(format!(
                    "the head of size {} is signed by key {}, which is not this service's",
                    proof.tree_head.tree_size, proof.tree_head.key_id
                ))),
            };
            checked.map_err(|e| self.found_tampered(format!("record {seq}: {e}")))?;
            proofs.push(proof);
        }
        Ok(proofs)
    }

    /// The consistency proof between two signed heads, checked before it is served.
    pub async fn consistency_proof(
        &self,
        old: i64,
        new: i64,
    ) -> Result<ConsistencyProof, EvidenceError> {
        self.ensure_intact()?;
        let proof = crate::consistency_proof(&self.inner.db, old, new)
            .await
            .map_err(|e| self.tampered_if_corrupt(e))?;
        let checked = match (
            self.inner.trusted.get(&proof.old.key_id),
            self.inner.trusted.get(&proof.new.key_id),
        ) {
            (Some(old_key), Some(new_key)) => {
                verify_consistency_proof_across(&proof, old_key, new_key)
            }
            _ => Err(EvidenceError::ProofInvalid(
                "a head is signed by a key that is not this service's".into(),
            )),
        };
        checked.map_err(|e| self.found_tampered(format!("heads {old}..{new}: {e}")))?;
        Ok(proof)
    }

    /// The key name of this log's checkpoints.
    pub fn origin(&self) -> &str {
        &self.inner.checkpoints.origin
    }

    /// The note verifier key of the current signing key, under [`EvidenceLog::origin`]: what
    /// signed-note tooling and witnesses are configured with.
    pub fn verifier_key(&self) -> String {
        checkpoint::verifier_key(self.origin(), &self.inner.signer.public_key())
    }

    /// The signed head of `tree_size` (the latest, sealed first, when `None`), its signature
    /// checked against this log's keys: a head altered in the database is never re-signed as a
    /// checkpoint.
    async fn checked_head(&self, tree_size: Option<i64>) -> Result<SignedTreeHead, EvidenceError> {
        self.ensure_intact()?;
        let head = match tree_size {
            None => self.seal().await?,
            Some(n) => crate::tree_head(&self.inner.db, n)
                .await?
                .ok_or(EvidenceError::TreeHeadNotFound { tree_size: n })?,
        };
        let checked = match self.inner.trusted.get(&head.key_id) {
            Some(key) => verify_tree_head(&head, key),
            None => Err(EvidenceError::KeyMismatch {
                expected: self.inner.signer.key_id(),
                found: head.key_id.clone(),
            }),
        };
        checked.map_err(|e| self.found_tampered(format!("tree head {}: {e}", head.tree_size)))?;
        Ok(head)
    }

    /// The checkpoint of the head of `tree_size` (the latest when `None`) as a signed note: the
    /// log's signature line, then the witnesses' cosignature lines stored for that size.
    pub async fn checkpoint(&self, tree_size: Option<i64>) -> Result<String, EvidenceError> {
        let head = self.checked_head(tree_size).await?;
        let mut note =
            checkpoint::sign(self.origin(), &head, &self.inner.signer).ok_or_else(|| {
                EvidenceError::Corrupt(format!("tree head {} has no valid root", head.tree_size))
            })?;
        let rows = self
            .inner
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.inner.db.get_database_backend(),
                "SELECT line FROM evidence_cosignatures WHERE tree_size = $1 ORDER BY witness, key_id",
                [sea_orm::Value::from(head.tree_size)],
            ))
            .await?;
        for row in rows {
            let line: String = row.try_get("", "line")?;
            note.push_str(&line);
            note.push('\n');
        }
        Ok(note)
    }

    /// Takes the cosignatures in `note` (a checkpoint of this log with witnesses' signature
    /// lines) by the configured witnesses, each verified, and stores them with the head (a
    /// witness's newer cosignature of the same size replaces its older one). Lines of anyone else
    /// are ignored; none valid is refused.
    pub async fn add_cosignatures(&self, note: &str) -> Result<Vec<Cosignature>, EvidenceError> {
        use crate::checkpoint::CheckpointError;
        if self.inner.checkpoints.witnesses.is_empty() {
            return Err(CheckpointError::NoWitnesses.into());
        }
        let tree_size = checkpoint::tree_size_of(note, self.origin())?;
        let head = self.checked_head(Some(tree_size)).await?;
        let expected = checkpoint::text(self.origin(), &head).ok_or_else(|| {
            EvidenceError::Corrupt(format!("tree head {tree_size} has no valid root"))
        })?;
        let found = checkpoint::cosignatures(note, &expected, &self.inner.checkpoints.witnesses)?;
        let db = &self.inner.db;
        for c in &found {
            db.execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "INSERT INTO evidence_cosignatures (tree_size, witness, key_id, signed_at, line) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tree_size, witness, key_id) \
                 DO UPDATE SET signed_at = $4, line = $5 WHERE evidence_cosignatures.signed_at < $4",
                [
                    sea_orm::Value::from(tree_size),
                    sea_orm::Value::from(c.witness.clone()),
                    sea_orm::Value::from(c.key_id.clone()),
                    sea_orm::Value::from(i64::try_from(c.timestamp).unwrap_or(i64::MAX)),
                    sea_orm::Value::from(c.line.clone()),
                ],
            ))
            .await?;
        }
        Ok(found)
    }

    fn tampered_if_corrupt(&self, e: EvidenceError) -> EvidenceError {
        match e {
            EvidenceError::Corrupt(reason) => self.found_tampered(reason),
            EvidenceError::Verify(v) => self.found_tampered(v.to_string()),
            other => other,
        }
    }

    /// Verifies the stored log: all of it when `from_start` or never walked before, else what
    /// was appended since the last walk. A mismatch marks the log tampered; a database error is
    /// returned and changes nothing (the next round tries again).
    pub async fn verify(&self, from_start: bool) -> Result<(), EvidenceError> {
        self.ensure_intact()?;
        let mut walked = self.inner.walked.lock().await;
        let cursor = match (&*walked, from_start) {
            (Some(cursor), false) => cursor.clone(),
            _ => ChainCursor::start(),
        };
        match crate::store::verify_stored_from(&self.inner.db, &self.inner.trusted, cursor).await {
            Ok((_, cursor)) => {
                *walked = Some(cursor);
                let mut integrity = self.lock_integrity();
                if *integrity == Integrity::Unverified {
                    *integrity = Integrity::Intact;
                }
                Ok(())
            }
            Err(EvidenceError::Verify(e)) => Err(self.found_tampered(e.to_string())),
            Err(EvidenceError::Corrupt(reason)) => Err(self.found_tampered(reason)),
            Err(e) => Err(e),
        }
    }

    /// The guard: a full verification now, then every `seal_every` a check of what is new and a
    /// seal, and a full verification every `full_every`, until `stop`.
    pub fn spawn_guard(
        &self,
        seal_every: Duration,
        full_every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(seal_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_full: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if log.tampered().is_some() {
                    continue;
                }
                let full = last_full.is_none_or(|at| at.elapsed() >= full_every);
                match log.verify(full).await {
                    Ok(()) => {
                        if full {
                            last_full = Some(tokio::time::Instant::now());
                        }
                        if let Err(e) = log.seal().await {
                            tracing::warn!(service = %log.service(), error = %e, "sealing the evidence log failed; will retry");
                        }
                    }
                    Err(EvidenceError::Tampered(_)) => {}
                    Err(e) => {
                        tracing::warn!(service = %log.service(), error = %e, "verifying the evidence log failed; will retry");
                    }
                }
            }
        })
    }

    /// The readiness check `evidence`: failing, with the reason, once the log was found
    /// tampered.
    pub fn readiness_check(&self) -> zw_platform::health::FnCheck {
        let log = self.clone();
        zw_platform::health::FnCheck::new("evidence", move || {
            let reason = log.tampered();
            async move {
                match reason {
                    Some(reason) => Err(format!("the evidence log was tampered with: {reason}")),
                    None => Ok(()),
                }
            }
        })
    }
}

/// The key file of `service` in `keys_dir`, created when missing if `create_missing` (else
/// [`KeyFileError::Missing`]).
///
/// A key left in the database by an earlier version (table `evidence_signing_key`) is adopted
/// into the file as a *retired* key (the heads it signed stay verifiable; it signs no more,
/// since whoever had the database had it) and then overwritten in the database with a marker
/// that an earlier version refuses to start on. If the file
/// cannot be written (a read-only Secret) and does not know that key yet, the service refuses
/// to start and says how to make a file that does.
pub async fn load_key_file(
    db: &DatabaseConnection,
    service: &str,
    keys_dir: &Path,
    create_missing: bool,
) -> Result<KeyFile, EvidenceError> {
    let path = key_file_path(keys_dir, service);
    let legacy = legacy_key(db).await?;
    let mut file = match KeyFile::load(&path, service) {
        Ok(file) => file,
        Err(KeyFileError::Missing { .. }) if create_missing => {
            let mut file = KeyFile::generate(service);
            if let Some((old, created_at)) = &legacy {
                file.adopt_retired(&old.public_key(), *created_at, Utc::now());
            }
            match file.save_new(&path) {
                Ok(()) => {
                    tracing::warn!(
                        service,
                        path = %path.display(),
                        key_id = %file.signer().map(|s| s.key_id()).unwrap_or_default(),
                        "created a new evidence signing key; back this file up apart from the database"
                    );
                    file
                }
                // Another replica created it first: use that one.
                Err(KeyFileError::Exists { .. }) => KeyFile::load(&path, service)?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((old, created_at)) = legacy {
        let old_key = old.public_key();
        if !file.knows(&old_key.key_id()) {
            file.adopt_retired(&old_key, created_at, Utc::now());
            file.save_replacing(&path).map_err(|e| {
                EvidenceError::Keys(KeyFileError::Invalid {
                    path: path.clone(),
                    detail: format!(
                        "the {service} database still holds the signing key of an earlier version \
                         (key {}), which this file does not know, and the file cannot be updated ({e}); \
                         run `zhiwang keys generate {service}` against this database to make a key \
                         file that adopts it, and deploy that file",
                        old_key.key_id()
                    ),
                })
            })?;
            tracing::warn!(
                service,
                key_id = %old_key.key_id(),
                "the signing key kept in the database by an earlier version is retired into the key file"
            );
        }
    }
    forget_legacy_key(db).await?;
    Ok(file)
}

/// The signing key an earlier version kept in the service's database, with when it was made.
pub async fn legacy_key<C: ConnectionTrait>(
    conn: &C,
) -> Result<Option<(EvidenceSigner, DateTime<Utc>)>, EvidenceError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT secret, created_at FROM evidence_signing_key WHERE id = 1",
        ))
        .await;
    let row = match row {
        Ok(row) => row,
        Err(e)
            if e.to_string().contains("no such table")
                || e.to_string().contains("does not exist") =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(row) = row else { return Ok(None) };
    let secret: String = row.try_get("", "secret")?;
    if secret == MOVED_TO_KEY_FILE {
        return Ok(None);
    }
    let created_at: DateTime<Utc> = row.try_get("", "created_at")?;
    let bytes: [u8; 32] = hex::decode(secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            EvidenceError::Corrupt("the legacy evidence signing key is not 32 bytes".into())
        })?;
    Ok(Some((
        EvidenceSigner::from_secret_bytes(&bytes),
        created_at,
    )))
}

/// What `evidence_signing_key.secret` holds once the key lives in a key file: not a key, so an
/// earlier version started on this database (a rollback, an old pod in a rolling upgrade)
/// refuses to start instead of creating a key of its own in the database and signing with it.
const MOVED_TO_KEY_FILE: &str = "moved-to-key-file";

async fn forget_legacy_key<C: ConnectionTrait>(conn: &C) -> Result<(), EvidenceError> {
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "INSERT INTO evidence_signing_key (id, secret, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET secret = $1",
        [
            sea_orm::Value::from(MOVED_TO_KEY_FILE),
            sea_orm::Value::from(Utc::now()),
        ],
    ))
    .await?;
    Ok(())
}
