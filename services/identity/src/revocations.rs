//! Revocations in the identity database: one access token (RFC 7009), every token of a subject
//! issued before now (a disabled account, "sign out everywhere"), and the list of what is in
//! force that every verifier fetches.
//!
//! Each revocation is written with its evidence and its event (outbox) in the caller's
//! transaction; after the commit the caller applies it to this service's own verifier and wakes
//! the relay ([`crate::routes::Identity::announce`]), and every other verifier applies the event
//! as it arrives. Rows are kept only as long as a token they concern can be valid
//! (`auth.max_token_lifetime_secs` plus the leeway), then [`purge`]d.

use anyhow::Context;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, Set,
};
use uuid::Uuid;
use zw_auth::{Principal, Revocation, RevocationList, fingerprint};
use zw_contracts::events::{AccessTokenRevoked, SigningKeyRetired, SubjectRevoked};
use zw_contracts::{Actor, Envelope};
use zw_domain::JurisdictionCode;
use zw_platform::config::AuthSettings;

use crate::error::ApiError;
use crate::model::{revoked_token, signing_key, subject_revocation};

/// Why every token of a subject was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectReason {
    /// The subject, or an admin for him, signed out everywhere.
    SignOut,
    /// An admin disabled the account.
    Disabled,
}

impl SubjectReason {
    fn as_str(self) -> &'static str {
        match self {
            SubjectReason::SignOut => "sign_out",
            SubjectReason::Disabled => "disabled",
        }
    }
}

/// Who revokes, as the evidence and the event name him.
#[derive(Debug, Clone)]
pub struct Revoker {
    /// The caller's subject, or `system:<component>`.
    pub id: String,
    /// The caller's roles.
    pub roles: Vec<String>,
}

impl From<&Principal> for Revoker {
    fn from(p: &Principal) -> Revoker {
        Revoker {
            id: p.subject.clone(),
            roles: p.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }
}

/// How long a revocation must be remembered after its time: no token issued before it can be
/// valid longer than the longest lifetime plus the clock leeway.
pub fn remembered_secs(auth: &AuthSettings) -> i64 {
    i64::try_from(
        auth.max_token_lifetime_secs
            .saturating_add(auth.leeway_secs),
    )
    .unwrap_or(i64::MAX / 4)
}

/// Write `revocation`'s event to the outbox, in the caller's transaction. Revocations are
/// district-wide: their subject is `zw.evt.<district>._._._.<type>`.
pub async fn enqueue(
    txn: &DatabaseTransaction,
    revocation: &Revocation,
    district: &JurisdictionCode,
    by: &Revoker,
) -> Result<(), DbErr> {
    let actor = Actor {
        id: by.id.clone(),
        roles: by.roles.clone(),
    };
    let env = Envelope::new(&revocation.to_event(), district.clone(), actor);
    zw_bus::outbox::enqueue(txn, &env, &[]).await
}

/// The revocation of a retired key, as its event and the list carry it.
pub fn key_revocation(row: &signing_key::Model, auth: &AuthSettings) -> Option<Revocation> {
    let retired_at = row.retired_at?.timestamp();
    Some(Revocation::Key(SigningKeyRetired {
        kid: row.kid.clone(),
        until: retired_at.saturating_add(remembered_secs(auth)),
    }))
}

/// Revoke the token `token` (verified: its id and subject are genuine). `None` when it was
/// revoked before (nothing is written twice).
pub async fn revoke_token(
    txn: &DatabaseTransaction,
    token: &Principal,
    by: &Revoker,
    district: &JurisdictionCode,
    auth: &AuthSettings,
) -> Result<Option<Revocation>, ApiError> {
    let now = Utc::now();
    // Its expiry is at most the longest lifetime from now (longer tokens are refused anyway).
    let until = now.timestamp().saturating_add(remembered_secs(auth));
    let inserted = revoked_token::Entity::insert(revoked_token::ActiveModel {
        jti: Set(token.token_id.clone()),
        subject: Set(token.subject.clone()),
        until: Set(until),
        revoked_by: Set(by.id.clone()),
        revoked_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(revoked_token::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    let revocation = Revocation::Token(AccessTokenRevoked {
        jti_sha256: fingerprint(&token.token_id),
        until,
    });
    zw_evidence::append(
        txn,
        &by.id,
        "access_token.revoke",
        &format!("access_token/{}", token.token_id),
        &serde_json::json!({"subject": token.subject, "until": until}),
    )
    .await
    .context("evidence of the revocation")?;
    enqueue(txn, &revocation, district, by).await?;
    Ok(Some(revocation))
}

/// Revoke every token of `subject` issued up to now (a token issued in this very second
/// included: identity issues the next one a second later, see [`issued_not_before`]). The caller
/// records the evidence of what it does (a sign-out, a disabling).
pub async fn revoke_subject(
    txn: &DatabaseTransaction,
    subject: &str,
    reason: SubjectReason,
    by: &Revoker,
    district: &JurisdictionCode,
    auth: &AuthSettings,
) -> Result<Revocation, ApiError> {
    let now = Utc::now();
    let issued_before = now.timestamp().saturating_add(1);
    let until = issued_before.saturating_add(remembered_secs(auth));
    subject_revocation::Entity::insert(subject_revocation::ActiveModel {
        id: Set(Uuid::now_v7()),
        subject: Set(subject.to_owned()),
        issued_before: Set(issued_before),
        until: Set(until),
        reason: Set(reason.as_str().to_owned()),
        revoked_by: Set(by.id.clone()),
        revoked_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    let revocation = Revocation::Subject(SubjectRevoked {
        sub_sha256: fingerprint(subject),
        issued_before,
        until,
    });
    enqueue(txn, &revocation, district, by).await?;
    Ok(revocation)
}

/// The earliest `iat` a new token of `subject` may have: after his latest sign-out, if that
/// was in this very second (`None`: now is fine).
pub async fn issued_not_before(
    db: &DatabaseConnection,
    subject: &str,
) -> Result<Option<i64>, DbErr> {
    let now = Utc::now().timestamp();
    let latest = subject_revocation::Entity::find()
        .filter(subject_revocation::Column::Subject.eq(subject))
        .filter(subject_revocation::Column::IssuedBefore.gt(now))
        .all(db)
        .await?
        .iter()
        .map(|r| r.issued_before)
        .max();
    Ok(latest)
}

/// What is revoked now: keys retired lately, tokens and subjects whose revocation still
/// matters. Served to every verifier, and loaded into this service's own.
pub async fn in_force(
    db: &impl ConnectionTrait,
    auth: &AuthSettings,
) -> Result<RevocationList, DbErr> {
    let now = Utc::now();
    let since = now - chrono::Duration::seconds(remembered_secs(auth));
    let keys = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.gt(since))
        .all(db)
        .await?
        .iter()
        .filter_map(|k| match key_revocation(k, auth) {
            Some(Revocation::Key(k)) => Some(k),
            _ => None,
        })
        .collect();
    let tokens = revoked_token::Entity::find()
        .filter(revoked_token::Column::Until.gt(now.timestamp()))
        .all(db)
        .await?
        .into_iter()
        .map(|t| AccessTokenRevoked {
            jti_sha256: fingerprint(&t.jti),
            until: t.until,
        })
        .collect();
    let subjects = subject_revocation::Entity::find()
        .filter(subject_revocation::Column::Until.gt(now.timestamp()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| SubjectRevoked {
            sub_sha256: fingerprint(&s.subject),
            issued_before: s.issued_before,
            until: s.until,
        })
        .collect();
    Ok(RevocationList {
        keys,
        tokens,
        subjects,
    })
}

/// Delete revocations no token can need any more; returns how many.
pub async fn purge(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = Utc::now().timestamp();
    let tokens = revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::Until.lte(now))
        .exec(db)
        .await?;
    let subjects = subject_revocation::Entity::delete_many()
        .filter(subject_revocation::Column::Until.lte(now))
        .exec(db)
        .await?;
    Ok(tokens.rows_affected + subjects.rows_affected)
}
