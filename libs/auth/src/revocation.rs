//! Revocations: what a verifier refuses although the signature and the claims are good — tokens
//! signed by a retired key, one revoked token (by `jti`), every token of a subject issued before
//! a time (a disabled account, a "sign out everywhere").
//!
//! Identity stores each revocation and publishes it as an event (`signing_key.retired`,
//! `access_token.revoked`, `subject.revoked`, see [`zw_contracts::events`]); every verifier
//! follows those events with a fan-out subscription ([`Verifier::follow`]) and applies each at
//! once. A verifier that starts, or that missed events while the bus was down, gets the
//! revocations still in force from identity's [`RevocationList`] (fetched with the JWKS, at start
//! and on every refresh) and from the events of the last [`max_token_lifetime`] still in the
//! stream. Revocations only add up, so applying one twice, or in any order, changes nothing; each
//! is forgotten once no token it concerns can be valid any more (`until`).
//!
//! The list is public (like the JWKS), so it names tokens and subjects only by [`fingerprint`]s:
//! someone who does not already know a token id or an account id learns nothing from it.
//!
//! [`max_token_lifetime`]: zw_platform::config::AuthSettings::max_token_lifetime_secs

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zw_bus::{Bus, Delivery, FanoutSpec};
use zw_contracts::Envelope;
use zw_contracts::events::{AccessTokenRevoked, Event, SigningKeyRetired, SubjectRevoked};
use zw_domain::JurisdictionCode;

use crate::{AuthError, Claims, Verifier};

/// Lower-case hex SHA-256 of a token id or a subject, as revocations name them.
pub fn fingerprint(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The revocations in force, as identity serves them (`GET /api/v1/identity/revocations`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevocationList {
    /// Keys retired lately: their tokens are refused even by a verifier whose cached key set
    /// still holds them.
    pub keys: Vec<SigningKeyRetired>,
    /// Tokens revoked one by one, until they expire.
    pub tokens: Vec<AccessTokenRevoked>,
    /// Subjects whose tokens issued before a time are refused.
    pub subjects: Vec<SubjectRevoked>,
}

/// One revocation, from an event or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// A retired signing key.
    Key(SigningKeyRetired),
    /// One revoked token.
    Token(AccessTokenRevoked),
    /// Every token of a subject issued before a time.
    Subject(SubjectRevoked),
}

impl Revocation {
    /// The revocation an event carries, if it is one.
    pub fn from_event(event: &Event) -> Option<Revocation> {
        match event {
            Event::SigningKeyRetired(k) => Some(Revocation::Key(k.clone())),
            Event::AccessTokenRevoked(t) => Some(Revocation::Token(t.clone())),
            Event::SubjectRevoked(s) => Some(Revocation::Subject(s.clone())),
            _ => None,
        }
    }

    /// The event that publishes it.
    pub fn to_event(&self) -> Event {
        match self {
            Revocation::Key(k) => Event::SigningKeyRetired(k.clone()),
            Revocation::Token(t) => Event::AccessTokenRevoked(t.clone()),
            Revocation::Subject(s) => Event::SubjectRevoked(s.clone()),
        }
    }
}

/// What a verifier holds in memory: each revocation with the time it may be forgotten.
#[derive(Debug, Default)]
pub(crate) struct Revoked {
    /// kid → until.
    keys: HashMap<String, i64>,
    /// Fingerprint of the jti → until.
    tokens: HashMap<String, i64>,
    /// Fingerprint of the subject → (issued before, until).
    subjects: HashMap<String, (i64, i64)>,
}

impl Revoked {
    pub(crate) fn apply(&mut self, revocation: &Revocation, now: i64) {
        match revocation {
            Revocation::Key(k) if k.until > now => {
                let until = self.keys.entry(k.kid.clone()).or_insert(k.until);
                *until = (*until).max(k.until);
            }
            Revocation::Token(t) if t.until > now => {
                let until = self.tokens.entry(t.jti_sha256.clone()).or_insert(t.until);
                *until = (*until).max(t.until);
            }
            Revocation::Subject(s) if s.until > now => {
                let entry = self
                    .subjects
                    .entry(s.sub_sha256.clone())
                    .or_insert((s.issued_before, s.until));
                // A later sign-out covers an earlier one.
                *entry = (entry.0.max(s.issued_before), entry.1.max(s.until));
            }
            _ => {}
        }
        self.forget_expired(now);
    }

    pub(crate) fn apply_list(&mut self, list: &RevocationList, now: i64) {
        let all = (list.keys.iter().cloned().map(Revocation::Key))
            .chain(list.tokens.iter().cloned().map(Revocation::Token))
            .chain(list.subjects.iter().cloned().map(Revocation::Subject));
        for r in all {
            self.apply(&r, now);
        }
        self.forget_expired(now);
    }

    fn forget_expired(&mut self, now: i64) {
        self.keys.retain(|_, until| *until > now);
        self.tokens.retain(|_, until| *until > now);
        self.subjects.retain(|_, (_, until)| *until > now);
    }

    pub(crate) fn key_retired(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// `Err(Revoked)` when the token itself or its subject's tokens of that age are revoked.
    pub(crate) fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.tokens.is_empty() && self.subjects.is_empty() {
            return Ok(());
        }
        if self.tokens.contains_key(&fingerprint(&claims.jti)) {
            return Err(AuthError::Revoked);
        }
        match self.subjects.get(&fingerprint(&claims.sub)) {
            Some((issued_before, _)) if claims.iat < *issued_before => Err(AuthError::Revoked),
            _ => Ok(()),
        }
    }
}

/// Waits between attempts to (re)subscribe grow from this…
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// …to at most this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Verifier {
    /// Apply one revocation at once (identity after storing it; [`Verifier::follow`] for each
    /// event).
    pub fn revoke(&self, revocation: &Revocation) {
        if let Revocation::Key(k) = revocation {
            tracing::info!(kid = %k.kid, "signing key retired: its tokens are refused");
        }
        self.revoked_mut()
            .apply(revocation, chrono::Utc::now().timestamp());
    }

    /// Apply every revocation of a list (what identity serves; its own verifier at start).
    pub fn revoke_all(&self, list: &RevocationList) {
        self.revoked_mut()
            .apply_list(list, chrono::Utc::now().timestamp());
    }

    /// Follow identity's revocation events of `district` on `bus` until `stop` is cancelled,
    /// applying each at once. The subscription is a fan-out (every process gets every event)
    /// starting with the events of the last maximum token lifetime, so a verifier that starts,
    /// or subscribes again after losing the bus, also knows what was revoked before. While the
    /// bus is down it retries, and the remote key-set refresh stays the fallback.
    pub fn follow(
        &self,
        bus: Bus,
        district: &JurisdictionCode,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let verifier = self.clone();
        let filters = zw_contracts::envelope::revocation_filters(district);
        tokio::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            loop {
                let spec = FanoutSpec::new(filters.clone()).since(verifier.remembered_since());
                let subscribed = tokio::select! {
                    _ = stop.cancelled() => return,
                    s = bus.subscribe_fanout(spec) => s,
                };
                let mut sub = match subscribed {
                    Ok(sub) => sub,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "cannot follow revocation events yet");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                };
                backoff = MIN_BACKOFF;
                loop {
                    let next = tokio::select! {
                        _ = stop.cancelled() => return,
                        next = sub.next() => next,
                    };
                    match next {
                        Some(Ok(delivery)) => {
                            backoff = MIN_BACKOFF;
                            verifier.apply_delivery(&delivery);
                        }
                        // The subscription recovers by itself (a lost connection); meanwhile
                        // the key-set refresh is the fallback.
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, retry_in = ?backoff, "receiving revocation events failed");
                            tokio::select! {
                                _ = stop.cancelled() => return,
                                _ = tokio::time::sleep(backoff) => {}
                            }
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                        None => {
                            tracing::warn!(
                                "the revocation event subscription ended; subscribing again"
                            );
                            break;
                        }
                    }
                }
            }
        })
    }

    fn apply_delivery(&self, delivery: &Delivery) {
        let revocation = Envelope::from_bytes(&delivery.payload)
            .map_err(|e| e.to_string())
            .and_then(|env| env.event().map_err(|e| e.to_string()))
            .map(|event| Revocation::from_event(&event));
        match revocation {
            Ok(Some(r)) => self.revoke(&r),
            Ok(None) => {
                tracing::debug!(
                    subject = delivery.subject,
                    "not a revocation event; ignored"
                )
            }
            Err(e) => {
                tracing::error!(subject = delivery.subject, id = delivery.id, error = %e, "unreadable revocation event ignored")
            }
        }
    }

    /// Events since this time may still matter: a token issued before it has expired by now.
    fn remembered_since(&self) -> chrono::DateTime<chrono::Utc> {
        let secs = self
            .inner
            .max_lifetime_secs
            .saturating_add(self.inner.leeway_secs);
        chrono::Utc::now() - chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, jti: &str, iat: i64) -> Claims {
        Claims {
            iss: "i".into(),
            sub: sub.into(),
            aud: "a".into(),
            exp: iat + 900,
            nbf: iat,
            iat,
            jti: jti.into(),
            roles: vec![],
            scope: JurisdictionCode::parse("440304").expect("code"),
            datasets: vec![],
            name: None,
            id_number: None,
        }
    }

    #[test]
    fn a_revoked_token_and_older_tokens_of_a_revoked_subject_are_refused_and_nothing_else() {
        let now = 1_700_000_000;
        let mut r = Revoked::default();
        r.apply(
            &Revocation::Token(AccessTokenRevoked {
                jti_sha256: fingerprint("jti-1"),
                until: now + 900,
            }),
            now,
        );
        r.apply(
            &Revocation::Subject(SubjectRevoked {
                sub_sha256: fingerprint("alice"),
                issued_before: now,
                until: now + 960,
            }),
            now,
        );
        assert_eq!(
            r.check(&claims("bob", "jti-1", now - 10)),
            Err(AuthError::Revoked)
        );
        assert!(r.check(&claims("bob", "jti-2", now - 10)).is_ok());
        assert_eq!(
            r.check(&claims("alice", "jti-3", now - 1)),
            Err(AuthError::Revoked)
        );
        assert!(
            r.check(&claims("alice", "jti-4", now)).is_ok(),
            "a token issued after the sign-out passes"
        );
    }

    #[test]
    fn revocations_add_up_in_any_order_and_are_forgotten_once_they_cannot_matter() {
        let now = 1_700_000_000;
        let early = Revocation::Subject(SubjectRevoked {
            sub_sha256: fingerprint("alice"),
            issued_before: now - 100,
            until: now + 800,
        });
        let late = Revocation::Subject(SubjectRevoked {
            sub_sha256: fingerprint("alice"),
            issued_before: now,
            until: now + 900,
        });
        let mut r = Revoked::default();
        r.apply(&late, now);
        r.apply(&early, now);
        r.apply(&late, now);
        assert_eq!(
            r.check(&claims("alice", "j", now - 50)),
            Err(AuthError::Revoked),
            "an earlier sign-out arriving late does not undo a later one"
        );
        r.apply(
            &Revocation::Key(SigningKeyRetired {
                kid: "k1".into(),
                until: now + 10,
            }),
            now,
        );
        assert!(r.key_retired("k1"));
        r.apply_list(&RevocationList::default(), now + 901);
        assert!(!r.key_retired("k1"));
        assert!(r.check(&claims("alice", "j", now - 50)).is_ok());
        assert!(r.subjects.is_empty() && r.keys.is_empty());
    }

    #[test]
    fn fingerprints_are_sha256_hex() {
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
