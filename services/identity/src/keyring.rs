//! The signing key ring: keys live in the identity database; the newest key not retired signs,
//! every key not retired is published in the JWKS (so tokens signed before a rotation keep
//! verifying until their key is retired).
//!
//! The ring in memory is an [`Issuer`] plus a fixed [`Verifier`] over the same key set, which the
//! identity service's own endpoints use (it never calls itself over HTTP). Both are replaced
//! after a rotation or retirement, and reloaded from the database every [`RELOAD_EVERY`] (with
//! the revocations in force) so replicas pick up each other's changes; the verifier also follows
//! the revocation events, so another replica's retirement takes effect here at once.
//!
//! Every key change leaves evidence, the first key generated on a fresh database included; a
//! retirement is also published as an event every verifier applies at once.

use std::sync::{Arc, RwLock};
use std::time::Duration;
use zw_platform::db::BeginWrite;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use zw_auth::{Issuer, KeyPair, SigningAlgorithm, Verifier};
use zw_platform::Settings;

use crate::error::ApiError;
use crate::model::signing_key;
use crate::revocations::{self, Revoker};

/// How often each replica reloads the key ring from the database.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// The actor of the evidence of the first key, which no one asked for.
pub const FIRST_KEY_ACTOR: &str = "system:identity";

/// A signing key as the admin endpoints show it (never the private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Key id, as in token headers and the JWKS.
    pub kid: String,
    /// `EdDSA` or `RS256`.
    pub alg: String,
    /// Whether it signs new tokens.
    pub active: bool,
    /// When it was generated.
    pub created_at: DateTime<Utc>,
    /// When it was dropped from the JWKS; absent while published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
}

/// The in-memory key ring. Cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    issuer: Arc<RwLock<Arc<Issuer>>>,
    verifier: Verifier,
    settings: Arc<Settings>,
    alg: SigningAlgorithm,
}

impl KeyRing {
    /// Load the published keys, generating the first key (with `identity.algorithm`) on a
    /// fresh database.
    pub async fn open(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<KeyRing> {
        let alg: SigningAlgorithm = settings
            .identity
            .algorithm
            .parse()
            .map_err(|e| anyhow::anyhow!("identity.algorithm: {e}"))?;
        let mut published = published_keys(db).await?;
        if published.is_empty() {
            let key = generate(alg).await?;
            let txn = db.begin_write().await?;
            let row = insert(&txn, &key).await?;
            key_evidence(&txn, FIRST_KEY_ACTOR, "signing_key.create", &row).await?;
            txn.commit().await?;
            tracing::info!(kid = key.kid(), alg = %alg, "generated the first signing key");
            published = published_keys(db).await?;
        }
        let issuer = build_issuer(settings, published)?;
        let verifier = Verifier::fixed(issuer.jwks(), &settings.auth);
        verifier.revoke_all(&revocations::in_force(db, &settings.auth).await?);
        Ok(KeyRing {
            issuer: Arc::new(RwLock::new(Arc::new(issuer))),
            verifier,
            settings: Arc::new(settings.clone()),
            alg,
        })
    }

    /// The issuer signing with the active key now.
    pub fn issuer(&self) -> Arc<Issuer> {
        self.issuer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The verifier over the published keys (kept up to date).
    pub fn verifier(&self) -> Verifier {
        self.verifier.clone()
    }

    /// Reload from the database (after a change here or on another replica).
    pub async fn reload(&self, db: &DatabaseConnection) -> anyhow::Result<()> {
        let published = published_keys(db).await?;
        if published.is_empty() {
            anyhow::bail!("no signing key is published: the database was changed by hand");
        }
        let issuer = build_issuer(&self.settings, published)?;
        let revoked = revocations::in_force(db, &self.settings.auth).await?;
        self.verifier.replace_keys(&issuer.jwks());
        self.verifier.revoke_all(&revoked);
        *self.issuer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(issuer);
        Ok(())
    }

    /// Generate a new active key; the previous keys stay published.
    pub async fn rotate(&self, db: &DatabaseConnection, actor: &str) -> Result<KeyInfo, ApiError> {
        let key = generate(self.alg).await?;
        let txn = db.begin_write().await?;
        let row = insert(&txn, &key).await?;
        key_evidence(&txn, actor, "signing_key.rotate", &row).await?;
        txn.commit().await?;
        self.reload(db).await?;
        tracing::info!(kid = key.kid(), alg = %self.alg, "signing key rotated");
        Ok(info(&row, true))
    }

    /// Drop a key from the JWKS: its tokens stop verifying, here at once and everywhere else as
    /// soon as its event arrives (the caller wakes the relay). The active key cannot be retired.
    pub async fn retire(
        &self,
        db: &DatabaseConnection,
        kid: &str,
        by: &Revoker,
    ) -> Result<KeyInfo, ApiError> {
        let row = signing_key::Entity::find_by_id(kid.to_owned())
            .one(db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no signing key {kid}")))?;
        if row.retired_at.is_some() {
            return Ok(info(&row, false));
        }
        let published = published_keys(db).await?;
        if published
            .first()
            .is_some_and(|active| active.kid == row.kid)
        {
            return Err(ApiError::ActiveKey(row.kid));
        }
        let mut active = row.into_active_model();
        active.retired_at = Set(Some(Utc::now()));
        let txn = db.begin_write().await?;
        let row = active.update(&txn).await?;
        key_evidence(&txn, &by.id, "signing_key.retire", &row).await?;
        let revocation = revocations::key_revocation(&row, &self.settings.auth)
            .context("a retired key has its retirement time")?;
        revocations::enqueue(&txn, &revocation, &self.settings.district.code, by).await?;
        txn.commit().await?;
        self.verifier.revoke(&revocation);
        self.reload(db).await?;
        tracing::info!(kid = %row.kid, "signing key retired");
        Ok(info(&row, false))
    }

    /// Every key, newest first, with its state.
    pub async fn list(db: &DatabaseConnection) -> Result<Vec<KeyInfo>, ApiError> {
        let rows = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Kid)
            .all(db)
            .await?;
        let active = rows
            .iter()
            .find(|r| r.retired_at.is_none())
            .map(|r| r.kid.clone());
        Ok(rows
            .iter()
            .map(|r| info(r, Some(&r.kid) == active.as_ref()))
            .collect())
    }

    /// Reload every [`RELOAD_EVERY`] (and forget revocations no token needs any more) until
    /// `stop` is cancelled.
    pub fn spawn_reloader(
        &self,
        db: DatabaseConnection,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = ring.reload(&db).await {
                            tracing::warn!(error = ?e, "key ring reload failed; keeping the current keys");
                        }
                        if let Err(e) = revocations::purge(&db).await {
                            tracing::warn!(error = %e, "purging old revocations failed");
                        }
                    }
                }
            }
        })
    }
}

fn info(row: &signing_key::Model, active: bool) -> KeyInfo {
    KeyInfo {
        kid: row.kid.clone(),
        alg: row.alg.clone(),
        active,
        created_at: row.created_at,
        retired_at: row.retired_at,
    }
}

/// Keys not retired, newest first (the first one signs).
async fn published_keys(db: &DatabaseConnection) -> anyhow::Result<Vec<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Kid)
        .all(db)
        .await?)
}

fn build_issuer(settings: &Settings, rows: Vec<signing_key::Model>) -> anyhow::Result<Issuer> {
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let alg: SigningAlgorithm = row
            .alg
            .parse()
            .map_err(|e| anyhow::anyhow!("key {}: {e}", row.kid))?;
        keys.push(
            KeyPair::from_pkcs8_der(&row.kid, alg, &row.private_key)
                .with_context(|| format!("stored key {}", row.kid))?,
        );
    }
    let mut keys = keys.into_iter();
    let active = keys.next().context("no published signing key")?;
    Ok(Issuer::new(
        active,
        keys.collect(),
        settings.auth.issuer.clone(),
        settings.auth.audience.clone(),
        Duration::from_secs(settings.identity.access_token_ttl_secs),
    ))
}

/// Generate off the async executor: RSA key generation takes a while.
async fn generate(alg: SigningAlgorithm) -> anyhow::Result<KeyPair> {
    tokio::task::spawn_blocking(move || KeyPair::generate(alg))
        .await
        .context("key generation task")?
        .context("generating a signing key")
}

/// The evidence of a key's rotation or retirement (its id and algorithm, never the key).
async fn key_evidence(
    txn: &sea_orm::DatabaseTransaction,
    actor: &str,
    action: &str,
    row: &signing_key::Model,
) -> anyhow::Result<()> {
    zw_evidence::append(
        txn,
        actor,
        action,
        &format!("signing_key/{}", row.kid),
        &serde_json::json!({"kid": row.kid, "alg": row.alg, "retired_at": row.retired_at}),
    )
    .await?;
    Ok(())
}

async fn insert(
    db: &impl sea_orm::ConnectionTrait,
    key: &KeyPair,
) -> anyhow::Result<signing_key::Model> {
    Ok(signing_key::ActiveModel {
        kid: Set(key.kid().to_owned()),
        alg: Set(key.alg().as_str().to_owned()),
        private_key: Set(key.to_pkcs8_der()),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
    }
    .insert(db)
    .await?)
}
