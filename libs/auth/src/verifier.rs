//! [`Verifier`]: checks access tokens against a JWK set — a fixed one (tests, the identity service
//! itself) or one fetched from `auth.jwks_url`, cached, refreshed every `jwks_refresh_secs` and at
//! once when a token names an unknown `kid` (at most once per [`FORCED_REFRESH_INTERVAL`], so a
//! flood of tokens with made-up key ids cannot turn into a flood of fetches). A remote verifier
//! fetches identity's [`RevocationList`] (`auth.revocations_url`) with every key set, and accepts
//! no token before it has both; every verifier also applies revocations as they happen
//! ([`crate::revocation`]).
//!
//! The rules, in order: a compact JWS of at most [`MAX_TOKEN_BYTES`]; header `alg` EdDSA or RS256
//! (never `none`, never HMAC); header `typ` [`ACCESS_TOKEN_TYPE`] (RFC 9068: an ID token or any
//! other JWT signed by the same key is not an access token; the legacy `JWT` is refused too); a
//! `kid` naming a published key, not retired, whose type matches `alg` (so a public key can never
//! be used as an HMAC secret); a valid signature; `iss` and `aud` as configured; `exp` required
//! and not passed, `nbf` and `iat` not in the future (all with `leeway_secs`); a lifetime
//! (`exp - iat` and `exp - nbf`) of at most `max_token_lifetime_secs`; the Zhiwang claims must
//! parse (known roles, a valid scope code); and neither the token nor its subject's tokens of
//! its age are revoked.
//!
//! A token that verified is remembered (by the SHA-256 of its exact bytes, at most
//! [`VERIFIED_CACHE_SIZE`] of them, forgotten whenever the key set changes): the same token again
//! skips the signature and claims decoding, and is checked only for what can change since —
//! expiry, its key retired or gone from the key set, a revocation, a key set due for refresh.
//! Every request through the gateway is verified twice (at the edge and at the service), and a
//! client sends the same token for its whole lifetime.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use sha2::Digest as _;
use serde::Deserialize;
use zw_platform::config::AuthSettings;

use crate::revocation::{RevocationList, Revoked};
use crate::{AuthError, Claims, Jwk, Jwks, Principal, SigningAlgorithm};

/// The JOSE `typ` of an access token (RFC 9068 §2.1); `application/at+jwt` is accepted too.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A refresh forced by an unknown `kid` happens at most this often.
pub const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// How many verified tokens are remembered (the map is emptied when full).
pub const VERIFIED_CACHE_SIZE: usize = 4096;

/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Verifies access tokens into [`Principal`]s. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Verifier {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field(
                "remote",
                &self.inner.remote.as_ref().map(|r| r.url.as_str()),
            )
            .finish()
    }
}

pub(crate) struct Inner {
    issuer: String,
    audience: String,
    pub(crate) leeway_secs: u64,
    pub(crate) max_lifetime_secs: u64,
    keys: RwLock<Arc<KeyRing>>,
    revoked: RwLock<Revoked>,
    remote: Option<Remote>,
    /// Tokens that verified, by the SHA-256 of their bytes, with their `kid` and claims.
    verified: std::sync::Mutex<HashMap<[u8; 32], (String, Claims)>>,
}

/// Where a remote verifier fetches its keys and revocations, and when it last did.
struct Remote {
    url: String,
    revocations_url: String,
    client: reqwest::Client,
    refresh_every: Duration,
    /// Held while fetching, so concurrent callers wait for one fetch instead of each starting one.
    state: tokio::sync::Mutex<RemoteState>,
    /// When the key set was last fetched (a copy of `state.fetched_at`), read without waiting
    /// for `state`: a verification with a fresh key set that knows its `kid` takes no lock.
    fetched_at: RwLock<Option<Instant>>,
}

impl Remote {
    fn fresh(&self) -> bool {
        self.fetched_at
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < self.refresh_every)
    }
}

#[derive(Default)]
struct RemoteState {
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_forced: Option<Instant>,
    last_error: Option<String>,
}

/// The usable keys by `kid`.
#[derive(Default)]
struct KeyRing {
    keys: HashMap<String, VerifyKey>,
}

struct VerifyKey {
    alg: SigningAlgorithm,
    key: DecodingKey,
}

impl KeyRing {
    /// Keep the keys we can use; skip (and log) the rest: no `kid`, not for signing, an
    /// algorithm other than EdDSA/RS256, or key material that does not decode.
    fn from_jwks(jwks: &Jwks) -> KeyRing {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            match VerifyKey::from_jwk(jwk) {
                Ok((kid, key)) => {
                    keys.insert(kid, key);
                }
                Err(why) => tracing::debug!(kid = ?jwk.kid, %why, "JWK skipped"),
            }
        }
        KeyRing { keys }
    }
}

impl VerifyKey {
    fn from_jwk(jwk: &Jwk) -> Result<(String, VerifyKey), String> {
        let kid = jwk.kid.clone().filter(|k| !k.is_empty()).ok_or("no kid")?;
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
            return Err("not a signing key".into());
        }
        let alg = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => SigningAlgorithm::EdDSA,
            ("RSA", _) => SigningAlgorithm::RS256,
            (kty, crv) => return Err(format!("unsupported key type {kty} {crv:?}")),
        };
        if let Some(declared) = jwk.alg.as_deref()
            && declared != alg.as_str()
        {
            return Err(format!("alg {declared} does not fit key type {}", jwk.kty));
        }
        let key = match alg {
            SigningAlgorithm::EdDSA => {
                let x = jwk.x.as_deref().ok_or("OKP key without x")?;
                let raw = URL_SAFE_NO_PAD.decode(x).map_err(|e| e.to_string())?;
                if raw.len() != 32 {
                    return Err("an Ed25519 key has 32 bytes".into());
                }
                DecodingKey::from_ed_der(&raw)
            }
            SigningAlgorithm::RS256 => {
                let n = jwk.n.as_deref().ok_or("RSA key without n")?;
                let e = jwk.e.as_deref().ok_or("RSA key without e")?;
                let modulus = URL_SAFE_NO_PAD.decode(n).map_err(|e| e.to_string())?;
                if modulus.len() * 8 < crate::keys::RSA_BITS {
                    return Err("RSA keys shorter than 2048 bits are refused".into());
                }
                DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?
            }
        };
        Ok((kid, VerifyKey { alg, key }))
    }
}

/// The parts of a JOSE header we decide on before touching any key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn read_header(token: &str) -> Result<RawHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("the header is not base64url".into()))?;
    let header: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::Malformed(format!("the header is not a JOSE header: {e}")))?;
    if header.crit.is_some() {
        return Err(AuthError::Malformed(
            "critical header extensions are not supported".into(),
        ));
    }
    Ok(header)
}

/// `Ok` for `at+jwt` or `application/at+jwt` (media types compare case-insensitively).
fn check_type(typ: Option<&str>) -> Result<(), AuthError> {
    let typ = typ.unwrap_or_default();
    let bare = if typ.len() > 12 && typ[..12].eq_ignore_ascii_case("application/") {
        &typ[12..]
    } else {
        typ
    };
    if bare.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) {
        Ok(())
    } else {
        Err(AuthError::NotAnAccessToken(typ.to_owned()))
    }
}

/// The checks on the registered claims that jsonwebtoken does not make: `iat` not in the
/// future, and a lifetime no longer than the maximum.
fn check_times(claims: &Claims, now: i64, leeway: u64, max_lifetime: u64) -> Result<(), AuthError> {
    let leeway = i64::try_from(leeway).unwrap_or(i64::MAX / 4);
    let max = i64::try_from(max_lifetime).unwrap_or(i64::MAX / 4);
    if claims.iat > now.saturating_add(leeway) {
        return Err(AuthError::IssuedInFuture);
    }
    let lifetime = claims
        .exp
        .saturating_sub(claims.iat)
        .max(claims.exp.saturating_sub(claims.nbf));
    if lifetime > max {
        return Err(AuthError::LifetimeTooLong {
            lifetime,
            max: max_lifetime,
        });
    }
    Ok(())
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    match err.into_kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => AuthError::InvalidClaims(format!("{c} is required")),
        ErrorKind::InvalidClaimFormat(c) => AuthError::InvalidClaims(format!("{c} is malformed")),
        ErrorKind::Json(e) => AuthError::InvalidClaims(e.to_string()),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            AuthError::Malformed("the token does not decode".into())
        }
        ErrorKind::InvalidAlgorithm => AuthError::UnsupportedAlgorithm("mismatched".into()),
        other => AuthError::Malformed(format!("{other:?}")),
    }
}

impl Verifier {
    fn with(settings: &AuthSettings, keys: KeyRing, remote: Option<Remote>) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                leeway_secs: settings.leeway_secs,
                max_lifetime_secs: settings.max_token_lifetime_secs,
                keys: RwLock::new(Arc::new(keys)),
                revoked: RwLock::new(Revoked::default()),
                remote,
                verified: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A verifier that fetches the key set from `settings.jwks_url` and the revocation list
    /// from `settings.revocations_url()` on first use, caches them, refreshes them every
    /// `jwks_refresh_secs`, and at once when a token names an unknown `kid`. A failed refresh
    /// keeps what it has; until the first fetch of both succeeds, every token is refused (503).
    pub fn remote(settings: &AuthSettings) -> Verifier {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "JWKS client with timeouts unavailable; using defaults");
                reqwest::Client::new()
            });
        let remote = Remote {
            url: settings.jwks_url.clone(),
            revocations_url: settings.revocations_url(),
            client,
            refresh_every: Duration::from_secs(settings.jwks_refresh_secs.max(1)),
            state: tokio::sync::Mutex::new(RemoteState::default()),
            fetched_at: RwLock::new(None),
        };
        Verifier::with(settings, KeyRing::default(), Some(remote))
    }

    /// A verifier with a fixed key set (tests, and the identity service for its own endpoints).
    pub fn fixed(jwks: Jwks, settings: &AuthSettings) -> Verifier {
        Verifier::with(settings, KeyRing::from_jwks(&jwks), None)
    }

    /// Replace the key set (the identity service does this after a rotation or retirement).
    /// A remote verifier's next refresh replaces it again.
    pub fn replace_keys(&self, jwks: &Jwks) {
        let ring = Arc::new(KeyRing::from_jwks(jwks));
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = ring;
        self.forget_verified();
    }

    fn forget_verified(&self) {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// A token that verified before, checked again for what can have changed since; `None`
    /// when it must be verified in full (not remembered, or its key set is due for refresh).
    fn verify_remembered(&self, digest: &[u8; 32]) -> Option<Result<Principal, AuthError>> {
        if self.inner.remote.as_ref().is_some_and(|r| !r.fresh()) {
            return None;
        }
        let (kid, claims) = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()?;
        if self.revoked().key_retired(&kid) {
            return Some(Err(AuthError::UnknownKey(kid)));
        }
        if !self.ring().keys.contains_key(&kid) {
            return None;
        }
        let leeway = i64::try_from(self.inner.leeway_secs).unwrap_or(i64::MAX / 4);
        if claims.exp < chrono::Utc::now().timestamp().saturating_sub(leeway) {
            return Some(Err(AuthError::Expired));
        }
        Some(self.revoked().check(&claims).map(|()| Principal::from(claims)))
    }

    fn remember_verified(&self, digest: [u8; 32], kid: String, claims: &Claims) {
        let mut verified = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE_SIZE {
            verified.clear();
        }
        verified.insert(digest, (kid, claims.clone()));
    }

    /// The key ids it currently trusts (sorted): published and not retired.
    pub fn key_ids(&self) -> Vec<String> {
        let revoked = self.revoked();
        let mut ids: Vec<String> = (self.ring().keys.keys())
            .filter(|kid| !revoked.key_retired(kid))
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    fn revoked(&self) -> std::sync::RwLockReadGuard<'_, Revoked> {
        self.inner.revoked.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn revoked_mut(&self) -> std::sync::RwLockWriteGuard<'_, Revoked> {
        self.inner
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Verify a token (without the `Bearer ` prefix) and return its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = read_header(token)?;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(result) = self.verify_remembered(&digest) {
            return result;
        }
        let alg: SigningAlgorithm = header.alg.parse()?;
        check_type(header.typ.as_deref())?;
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::MissingKeyId)?;
        // A retired key is gone, whatever a cached or stale key set says; no refresh needed.
        if self.revoked().key_retired(&kid) {
            return Err(AuthError::UnknownKey(kid));
        }
        let ring = self.ring_for(&kid).await?;
        let key = ring
            .keys
            .get(&kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        if key.alg != alg {
            return Err(AuthError::AlgorithmMismatch {
                alg: alg.as_str().to_owned(),
                kid,
            });
        }
        let mut validation = Validation::new(alg.jwt());
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.inner.leeway_secs;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(map_jwt_error)?;
        let claims = data.claims;
        check_times(
            &claims,
            chrono::Utc::now().timestamp(),
            self.inner.leeway_secs,
            self.inner.max_lifetime_secs,
        )?;
        self.revoked().check(&claims)?;
        self.remember_verified(digest, kid, &claims);
        Ok(Principal::from(claims))
    }

    /// The key ring to verify a token naming `kid`, refreshed as the rules say.
    async fn ring_for(&self, kid: &str) -> Result<Arc<KeyRing>, AuthError> {
        let Some(remote) = &self.inner.remote else {
            return Ok(self.ring());
        };
        if remote.fresh() {
            let ring = self.ring();
            if ring.keys.contains_key(kid) {
                return Ok(ring);
            }
        }
        let mut fetched_now = false;
        {
            let mut state = remote.state.lock().await;
            let stale = state
                .fetched_at
                .is_none_or(|t| t.elapsed() >= remote.refresh_every);
            let may_try = state
                .last_attempt
                .is_none_or(|t| t.elapsed() >= FORCED_REFRESH_INTERVAL);
            if stale && may_try {
                fetched_now = self.fetch(remote, &mut state).await.is_ok();
            }
            if state.fetched_at.is_none() && self.ring().keys.is_empty() {
                let why = state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not fetched yet".into());
                return Err(AuthError::KeysUnavailable(why));
            }
        }
        let ring = self.ring();
        if ring.keys.contains_key(kid) || fetched_now {
            return Ok(ring);
        }
        // An unknown kid: perhaps the issuer rotated. Refresh once, unless that happened lately.
        let mut state = remote.state.lock().await;
        if self.ring().keys.contains_key(kid) {
            return Ok(self.ring());
        }
        let may_force = state
            .last_forced
            .is_none_or(|t| t.elapsed() >= FORCED_REFRESH_INTERVAL);
        if may_force {
            state.last_forced = Some(Instant::now());
            let _ = self.fetch(remote, &mut state).await;
        }
        Ok(self.ring())
    }

    async fn fetch(&self, remote: &Remote, state: &mut RemoteState) -> Result<(), ()> {
        state.last_attempt = Some(Instant::now());
        // The key set and the revocations in force, both or neither: a verifier that knows the
        // keys but not what was revoked would accept revoked tokens.
        let result = async {
            let jwks: Jwks = get_json(&remote.client, &remote.url, "a JWK set").await?;
            let list: RevocationList =
                get_json(&remote.client, &remote.revocations_url, "a revocation list").await?;
            Ok::<_, String>((jwks, list))
        }
        .await;
        match result {
            Ok((jwks, list)) => {
                let ring = KeyRing::from_jwks(&jwks);
                tracing::debug!(keys = ring.keys.len(), url = %remote.url, "JWKS and revocations refreshed");
                self.revoke_all(&list);
                *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
                self.forget_verified();
                state.fetched_at = Some(Instant::now());
                *remote.fetched_at.write().unwrap_or_else(|p| p.into_inner()) = state.fetched_at;
                state.last_error = None;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %remote.url, "JWKS or revocations refresh failed; keeping what is cached");
                state.last_error = Some(e);
                Err(())
            }
        }
    }
}

/// GET `url` and decode its JSON body as `T` (`what` names it in the error).
async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<T, String> {
    let res = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("{url} answered {}", res.status()));
    }
    res.json::<T>()
        .await
        .map_err(|e| format!("{url}: not {what}: {e}"))
}
