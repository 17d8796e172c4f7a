//! [`Issuer`]: signs access tokens with the active key and publishes the key set.

use std::time::Duration;

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use crate::verifier::ACCESS_TOKEN_TYPE;
use crate::{AuthError, Claims, Jwks, KeyPair, TokenRequest};

/// An issued access token, as the token endpoint returns it (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Signs tokens with the active key; publishes the active and previous public keys.
#[derive(Debug, Clone)]
pub struct Issuer {
    active: KeyPair,
    previous: Vec<KeyPair>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl Issuer {
    /// An issuer signing with `active`; `previous` keys are still published (not used to sign)
    /// so tokens they signed keep verifying until they are retired.
    pub fn new(
        active: KeyPair,
        previous: Vec<KeyPair>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Issuer {
        Issuer {
            active,
            previous,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
        }
    }

    /// Sign a token for an authenticated subject, valid from now for the configured lifetime.
    pub fn issue(&self, req: &TokenRequest) -> Result<IssuedToken, AuthError> {
        self.issue_at(req, chrono::Utc::now().timestamp())
    }

    /// Sign a token issued at `iat` (seconds since the Unix epoch), valid from then for the
    /// configured lifetime. Identity issues a token a second ahead when its subject signed out
    /// earlier in this very second, so that the new token is younger than the sign-out.
    pub fn issue_at(&self, req: &TokenRequest, iat: i64) -> Result<IssuedToken, AuthError> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: req.subject.clone(),
            aud: self.audience.clone(),
            exp: iat.saturating_add(ttl),
            nbf: iat,
            iat,
            jti: uuid::Uuid::now_v7().to_string(),
            roles: req.roles.clone(),
            scope: req.scope.clone(),
            datasets: req.datasets.clone(),
            name: req.name.clone(),
            id_number: req.id_number.clone(),
        };
        let access_token = self.sign(&claims)?;
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Sign arbitrary claims with the active key, as an access token (`typ: at+jwt`, RFC 9068).
    /// Tests build expired or foreign tokens this way.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(self.active.alg().jwt());
        header.kid = Some(self.active.kid().to_owned());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, claims, self.active.encoding_key())
            .map_err(|e| AuthError::Key(format!("signing with key {}: {e}", self.active.kid())))
    }

    /// The public keys: the active one first, then the previous ones.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: std::iter::once(&self.active)
                .chain(&self.previous)
                .map(KeyPair::public_jwk)
                .collect(),
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &KeyPair {
        &self.active
    }

    /// The keys still published but no longer signing.
    pub fn previous(&self) -> &[KeyPair] {
        &self.previous
    }

    /// The `iss` it writes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` it writes.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}
