//! Token verification: what is accepted, what is refused and why, and key-set refresh.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, test as atest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use zw_domain::JurisdictionCode;
use zw_platform::config::AuthSettings;

use crate::testing::TestIssuer;
use crate::*;

fn settings() -> AuthSettings {
    zw_platform::Settings::load_with(None, [])
        .expect("default settings")
        .auth
}

fn request(role: Role, scope: &str) -> TokenRequest {
    TokenRequest {
        subject: "user-1".into(),
        roles: vec![role],
        scope: JurisdictionCode::parse(scope).expect("scope"),
        datasets: vec!["police.cases".into()],
        name: Some("Li Lei".into()),
        id_number: None,
    }
}

fn claims_for(issuer: &Issuer, exp_offset: i64, nbf_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: issuer.issuer().to_owned(),
        sub: "user-1".into(),
        aud: issuer.audience().to_owned(),
        exp: now + exp_offset,
        nbf: now + nbf_offset,
        iat: now,
        jti: "jti-1".into(),
        roles: vec![Role::GridWorker],
        scope: JurisdictionCode::parse("440304008001003").expect("scope"),
        datasets: Vec::new(),
        name: None,
        id_number: None,
    }
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// Sign any JSON payload with `key` and any header.
fn sign_raw(header: &jsonwebtoken::Header, payload: &serde_json::Value, key: &KeyPair) -> String {
    jsonwebtoken::encode(header, payload, key.encoding_key()).expect("sign")
}

/// An access token's header for `key`: its alg and kid, `typ: at+jwt`.
fn header_for(key: &KeyPair) -> jsonwebtoken::Header {
    let mut h = jsonwebtoken::Header::new(key.alg().jwt());
    h.kid = Some(key.kid().to_owned());
    h.typ = Some("at+jwt".to_owned());
    h
}

/// Claims with these offsets from now (seconds) for `iat`, `nbf` and `exp`.
fn claims_at(issuer: &Issuer, iat: i64, nbf: i64, exp: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iat: now + iat,
        nbf: now + nbf,
        exp: now + exp,
        ..claims_for(issuer, 0, 0)
    }
}

#[tokio::test]
async fn a_token_round_trips_into_its_principal() {
    let t = TestIssuer::new(&settings());
    let issued = t
        .issuer
        .issue(&request(Role::StreetOfficer, "440304008"))
        .expect("issue");
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 900);
    let p = t
        .verifier
        .verify(&issued.access_token)
        .await
        .expect("verifies");
    assert_eq!(p.subject, "user-1");
    assert_eq!(p.roles, vec![Role::StreetOfficer]);
    assert_eq!(p.scope.as_str(), "440304008");
    assert_eq!(p.datasets, vec!["police.cases".to_owned()]);
    assert_eq!(p.name.as_deref(), Some("Li Lei"));
    assert!(!p.token_id.is_empty());
}

#[tokio::test]
async fn an_rs256_token_round_trips_and_its_jwk_is_an_rsa_key() {
    let s = settings();
    let key = KeyPair::generate(SigningAlgorithm::RS256).expect("rsa key");
    let back = KeyPair::from_pkcs8_der(key.kid(), key.alg(), &key.to_pkcs8_der()).expect("read");
    assert_eq!(back.public_jwk(), key.public_jwk());
    let jwk = key.public_jwk();
    assert_eq!((jwk.kty.as_str(), jwk.e.as_deref()), ("RSA", Some("AQAB")));
    let issuer = Issuer::new(key, vec![], &s.issuer, &s.audience, Duration::from_secs(60));
    let verifier = Verifier::fixed(issuer.jwks(), &s);
    let token = issuer
        .issue(&request(Role::Department, "440304"))
        .expect("issue")
        .access_token;
    let p = verifier.verify(&token).await.expect("verifies");
    assert_eq!(p.roles, vec![Role::Department]);
}

#[tokio::test]
async fn an_expired_token_is_refused_but_clock_skew_within_leeway_is_tolerated() {
    let t = TestIssuer::new(&settings());
    let expired = t
        .issuer
        .sign(&claims_for(&t.issuer, -3600, -7200))
        .expect("sign");
    assert_eq!(t.verifier.verify(&expired).await, Err(AuthError::Expired));
    let just_expired = t
        .issuer
        .sign(&claims_for(&t.issuer, -5, -600))
        .expect("sign");
    assert!(t.verifier.verify(&just_expired).await.is_ok());
}

#[tokio::test]
async fn a_token_that_is_not_valid_yet_is_refused() {
    let t = TestIssuer::new(&settings());
    let early = t
        .issuer
        .sign(&claims_for(&t.issuer, 7200, 3600))
        .expect("sign");
    assert_eq!(t.verifier.verify(&early).await, Err(AuthError::NotYetValid));
}

#[tokio::test]
async fn a_token_from_another_issuer_or_for_another_audience_is_refused() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let key = t.issuer.active().clone();
    let other_iss = Issuer::new(
        key.clone(),
        vec![],
        "someone-else",
        &s.audience,
        Duration::from_secs(60),
    );
    let token = other_iss
        .issue(&request(Role::Admin, "440304"))
        .expect("issue")
        .access_token;
    assert_eq!(t.verifier.verify(&token).await, Err(AuthError::WrongIssuer));

    let other_aud = Issuer::new(
        key,
        vec![],
        &s.issuer,
        "another-app",
        Duration::from_secs(60),
    );
    let token = other_aud
        .issue(&request(Role::Admin, "440304"))
        .expect("issue")
        .access_token;
    assert_eq!(
        t.verifier.verify(&token).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let t = TestIssuer::new(&settings());
    let claims = serde_json::to_value(claims_for(&t.issuer, 600, 0)).expect("json");
    let header = json!({"alg": "none", "typ": "JWT", "kid": t.issuer.active().kid()});
    for token in [
        format!("{}.{}.", b64(&header), b64(&claims)),
        format!("{}.{}", b64(&header), b64(&claims)),
    ] {
        let err = t.verifier.verify(&token).await.expect_err("refused");
        assert!(
            matches!(
                err,
                AuthError::UnsupportedAlgorithm(_) | AuthError::Malformed(_)
            ),
            "{err:?}"
        );
    }
    let token = format!("{}.{}.", b64(&header), b64(&claims));
    assert_eq!(
        t.verifier.verify(&token).await,
        Err(AuthError::UnsupportedAlgorithm("none".into()))
    );
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let t = TestIssuer::new(&settings());
    let jwk = t.issuer.active().public_jwk();
    let x = jwk.x.clone().expect("x");
    let raw = URL_SAFE_NO_PAD.decode(&x).expect("x decodes");
    let claims = claims_for(&t.issuer, 600, 0);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = jwk.kid.clone();
    for secret in [
        raw.as_slice(),
        x.as_bytes(),
        serde_json::to_vec(&jwk).expect("json").as_slice(),
    ] {
        let key = jsonwebtoken::EncodingKey::from_secret(secret).expect("hmac key");
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
        assert_eq!(
            t.verifier.verify(&token).await,
            Err(AuthError::UnsupportedAlgorithm("HS256".into()))
        );
    }
}

#[tokio::test]
async fn a_token_whose_alg_does_not_match_its_key_type_is_refused() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let ed_kid = t.issuer.active().kid().to_owned();
    let rsa = KeyPair::generate(SigningAlgorithm::RS256).expect("rsa");
    let rsa_as_ed_kid =
        KeyPair::from_pkcs8_der(&ed_kid, SigningAlgorithm::RS256, &rsa.to_pkcs8_der())
            .expect("key");
    let token = sign_raw(
        &header_for(&rsa_as_ed_kid),
        &serde_json::to_value(claims_for(&t.issuer, 600, 0)).expect("json"),
        &rsa_as_ed_kid,
    );
    assert_eq!(
        t.verifier.verify(&token).await,
        Err(AuthError::AlgorithmMismatch {
            alg: "RS256".into(),
            kid: ed_kid
        })
    );
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let t = TestIssuer::new(&settings());
    let token = t.token(Role::GridWorker, "440304008001003", "worker-3");
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["roles"] = json!(["admin"]);
    payload["scope"] = json!("440304");
    let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_eq!(
        t.verifier.verify(&forged).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let stranger = TestIssuer::new(&s);
    let token = stranger.token(Role::Admin, "440304", "mallory");
    assert_eq!(
        t.verifier.verify(&token).await,
        Err(AuthError::UnknownKey(
            stranger.issuer.active().kid().to_owned()
        ))
    );
}

#[tokio::test]
async fn another_key_claiming_a_known_kid_is_refused() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let other = KeyPair::generate(SigningAlgorithm::EdDSA).expect("key");
    let impostor = KeyPair::from_pkcs8_der(
        t.issuer.active().kid(),
        SigningAlgorithm::EdDSA,
        &other.to_pkcs8_der(),
    )
    .expect("key");
    let forger = Issuer::new(
        impostor,
        vec![],
        &s.issuer,
        &s.audience,
        Duration::from_secs(60),
    );
    let token = forger
        .issue(&request(Role::Admin, "440304"))
        .expect("sign")
        .access_token;
    assert_eq!(
        t.verifier.verify(&token).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_without_kid_or_exp_or_with_bad_claims_is_refused() {
    let t = TestIssuer::new(&settings());
    let key = t.issuer.active();
    let claims = serde_json::to_value(claims_for(&t.issuer, 600, 0)).expect("json");

    let mut header = header_for(key);
    header.kid = None;
    let no_kid = sign_raw(&header, &claims, key);
    assert_eq!(
        t.verifier.verify(&no_kid).await,
        Err(AuthError::MissingKeyId)
    );

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    let token = sign_raw(&header_for(key), &no_exp, key);
    assert!(matches!(
        t.verifier.verify(&token).await,
        Err(AuthError::InvalidClaims(_))
    ));

    let mut bad_role = claims.clone();
    bad_role["roles"] = json!(["emperor"]);
    let token = sign_raw(&header_for(key), &bad_role, key);
    assert!(matches!(
        t.verifier.verify(&token).await,
        Err(AuthError::InvalidClaims(_))
    ));

    let mut bad_scope = claims;
    bad_scope["scope"] = json!("440304000");
    let token = sign_raw(&header_for(key), &bad_scope, key);
    assert!(matches!(
        t.verifier.verify(&token).await,
        Err(AuthError::InvalidClaims(_))
    ));

    for junk in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig"] {
        assert!(
            matches!(t.verifier.verify(junk).await, Err(AuthError::Malformed(_))),
            "{junk}"
        );
    }
}

#[tokio::test]
async fn the_key_set_publishes_previous_keys_so_old_tokens_verify_after_rotation() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let old_token = t.token(Role::Citizen, "440304", "c1");
    let new_key = KeyPair::generate(SigningAlgorithm::EdDSA).expect("key");
    let rotated = Issuer::new(
        new_key,
        vec![t.issuer.active().clone()],
        &s.issuer,
        &s.audience,
        Duration::from_secs(60),
    );
    assert_eq!(rotated.jwks().keys.len(), 2);
    t.verifier.replace_keys(&rotated.jwks());
    assert!(t.verifier.verify(&old_token).await.is_ok());
    let new_token = rotated
        .issue(&request(Role::Citizen, "440304"))
        .expect("issue")
        .access_token;
    assert!(t.verifier.verify(&new_token).await.is_ok());

    // Retiring the old key: its tokens stop verifying.
    let retired = Issuer::new(
        rotated.active().clone(),
        vec![],
        &s.issuer,
        &s.audience,
        Duration::from_secs(60),
    );
    t.verifier.replace_keys(&retired.jwks());
    assert!(matches!(
        t.verifier.verify(&old_token).await,
        Err(AuthError::UnknownKey(_))
    ));
}

/// A JWKS endpoint whose key set the test can change, counting its hits, and a revocation list
/// beside it (`None`: 404).
struct JwksServer {
    url: String,
    jwks: Arc<Mutex<Jwks>>,
    revocations: Arc<Mutex<Option<RevocationList>>>,
    hits: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

async fn jwks_server(jwks: Jwks) -> JwksServer {
    let shared = Arc::new(Mutex::new(jwks));
    let list = Arc::new(Mutex::new(Some(RevocationList::default())));
    let hits = Arc::new(AtomicUsize::new(0));
    let (s, h, r) = (shared.clone(), hits.clone(), list.clone());
    let server = HttpServer::new(move || {
        let (s, h, revocations) = (s.clone(), h.clone(), r.clone());
        let (l, h2) = (revocations.clone(), h.clone());
        App::new()
            .route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (s, h) = (s.clone(), h.clone());
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let body = s.lock().expect("lock").clone();
                        HttpResponse::Ok().json(body)
                    }
                }),
            )
            .route(
                "/revocations",
                web::get().to(move || {
                    let (l, _h) = (l.clone(), h2.clone());
                    async move {
                        match l.lock().expect("lock").clone() {
                            Some(list) => HttpResponse::Ok().json(list),
                            None => HttpResponse::NotFound().finish(),
                        }
                    }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    JwksServer {
        url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        jwks: shared,
        revocations: list,
        hits,
        handle,
    }
}

#[tokio::test]
async fn a_remote_verifier_fetches_once_and_refreshes_at_once_on_an_unknown_kid() {
    let mut s = settings();
    let t = TestIssuer::new(&s);
    let server = jwks_server(t.issuer.jwks()).await;
    s.jwks_url = server.url.clone();
    let verifier = Verifier::remote(&s);

    let first = t.token(Role::GridWorker, "440304008001003", "w1");
    assert!(verifier.verify(&first).await.is_ok());
    assert!(verifier.verify(&first).await.is_ok());
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "the key set is cached"
    );

    // The issuer rotates: the new key is published alongside the old one.
    let new_key = KeyPair::generate(SigningAlgorithm::EdDSA).expect("key");
    let rotated = Issuer::new(
        new_key,
        vec![t.issuer.active().clone()],
        &s.issuer,
        &s.audience,
        Duration::from_secs(60),
    );
    *server.jwks.lock().expect("lock") = rotated.jwks();
    let second = rotated
        .issue(&request(Role::GridWorker, "440304008001003"))
        .expect("issue")
        .access_token;
    let p = verifier
        .verify(&second)
        .await
        .expect("the new kid is fetched at once");
    assert_eq!(p.roles, vec![Role::GridWorker]);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    assert!(
        verifier.verify(&first).await.is_ok(),
        "the previous key still verifies"
    );

    // Made-up key ids right after a refresh do not trigger more fetches.
    let stranger = TestIssuer::new(&s);
    for _ in 0..5 {
        let token = stranger.token(Role::Admin, "440304", "mallory");
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::UnknownKey(_))
        ));
    }
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        2,
        "unknown kids are rate-limited"
    );
    server.handle.stop(false).await;
}

#[tokio::test]
async fn a_remote_verifier_without_reachable_keys_answers_503() {
    let mut s = settings();
    // Port 1 is privileged and unused: nothing answers there.
    s.jwks_url = "http://127.0.0.1:1/.well-known/jwks.json".to_owned();
    let verifier = Verifier::remote(&s);
    let token = TestIssuer::new(&s).token(Role::Admin, "440304", "a");
    let err = verifier.verify(&token).await.expect_err("no keys");
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
    assert_eq!(
        err.status(),
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_remote_verifier_knows_the_revocations_in_force_when_it_starts() {
    let mut s = settings();
    let t = TestIssuer::new(&s);
    let revoked = t.token(Role::Citizen, "440304", "c1");
    let kept = t.token(Role::Citizen, "440304", "c2");
    let revoked_jti = t.verifier.verify(&revoked).await.expect("valid").token_id;
    let server = jwks_server(t.issuer.jwks()).await;
    *server.revocations.lock().expect("lock") = Some(RevocationList {
        tokens: vec![zw_contracts::events::AccessTokenRevoked {
            jti_sha256: fingerprint(&revoked_jti),
            until: chrono::Utc::now().timestamp() + 900,
        }],
        ..RevocationList::default()
    });
    s.jwks_url = server.url.clone();
    let verifier = Verifier::remote(&s);
    assert_eq!(verifier.verify(&revoked).await, Err(AuthError::Revoked));
    assert!(verifier.verify(&kept).await.is_ok());
    server.handle.stop(false).await;
}

#[tokio::test]
async fn a_remote_verifier_that_cannot_get_the_revocations_accepts_nothing() {
    let mut s = settings();
    let t = TestIssuer::new(&s);
    let server = jwks_server(t.issuer.jwks()).await;
    *server.revocations.lock().expect("lock") = None;
    s.jwks_url = server.url.clone();
    let verifier = Verifier::remote(&s);
    let err = verifier
        .verify(&t.token(Role::Citizen, "440304", "c1"))
        .await
        .expect_err("no revocation list, no verdict");
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
    assert!(verifier.key_ids().is_empty(), "not even the keys are taken");
    server.handle.stop(false).await;
}

#[tokio::test]
async fn a_token_whose_typ_is_not_an_access_token_is_refused() {
    let t = TestIssuer::new(&settings());
    let key = t.issuer.active();
    let claims = serde_json::to_value(claims_for(&t.issuer, 600, 0)).expect("json");
    for typ in [
        Some("JWT"),
        None,
        Some("id+jwt"),
        Some("application/jwt"),
        Some(""),
    ] {
        let mut header = header_for(key);
        header.typ = typ.map(str::to_owned);
        let token = sign_raw(&header, &claims, key);
        assert_eq!(
            t.verifier.verify(&token).await,
            Err(AuthError::NotAnAccessToken(
                typ.unwrap_or_default().to_owned()
            )),
            "{typ:?}"
        );
    }
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let mut header = header_for(key);
        header.typ = Some(typ.to_owned());
        let token = sign_raw(&header, &claims, key);
        assert!(t.verifier.verify(&token).await.is_ok(), "{typ}");
    }
    let issued = t.token(Role::Citizen, "440304", "c1");
    let header = issued.split('.').next().expect("header");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    assert_eq!(header["typ"], "at+jwt", "the issuer writes what it demands");
}

#[tokio::test]
async fn a_token_issued_in_the_future_beyond_the_leeway_is_refused() {
    let t = TestIssuer::new(&settings());
    // Only iat is off: nbf now, a 10-minute lifetime from nbf.
    let future = t
        .issuer
        .sign(&claims_at(&t.issuer, 3600, 0, 600))
        .expect("sign");
    assert_eq!(
        t.verifier.verify(&future).await,
        Err(AuthError::IssuedInFuture)
    );
    let skewed = t
        .issuer
        .sign(&claims_at(&t.issuer, 20, 0, 600))
        .expect("sign");
    assert!(
        t.verifier.verify(&skewed).await.is_ok(),
        "20 s of clock skew is within the 30 s leeway"
    );
}

#[tokio::test]
async fn a_token_living_longer_than_the_maximum_is_refused() {
    let s = settings();
    assert_eq!(s.max_token_lifetime_secs, 960);
    let t = TestIssuer::new(&s);
    let longest = t
        .issuer
        .sign(&claims_at(&t.issuer, 0, 0, 960))
        .expect("sign");
    assert!(t.verifier.verify(&longest).await.is_ok());
    let too_long = t
        .issuer
        .sign(&claims_at(&t.issuer, 0, 0, 961))
        .expect("sign");
    assert_eq!(
        t.verifier.verify(&too_long).await,
        Err(AuthError::LifetimeTooLong {
            lifetime: 961,
            max: 960
        })
    );
    // A short exp - iat, but valid since long before (nbf): the lifetime counts from nbf.
    let early_nbf = t
        .issuer
        .sign(&claims_at(&t.issuer, 0, -500, 600))
        .expect("sign");
    assert_eq!(
        t.verifier.verify(&early_nbf).await,
        Err(AuthError::LifetimeTooLong {
            lifetime: 1100,
            max: 960
        })
    );
}

#[tokio::test]
async fn revocations_take_effect_in_a_verifier_at_once() {
    let t = TestIssuer::new(&settings());
    let now = chrono::Utc::now().timestamp();
    let token = t.token(Role::Citizen, "440304", "alice");
    let other = t.token(Role::Citizen, "440304", "bob");
    let jti = t.verifier.verify(&token).await.expect("valid").token_id;
    t.verifier.revoke(&Revocation::Token(
        zw_contracts::events::AccessTokenRevoked {
            jti_sha256: fingerprint(&jti),
            until: now + 900,
        },
    ));
    assert_eq!(t.verifier.verify(&token).await, Err(AuthError::Revoked));
    assert!(t.verifier.verify(&other).await.is_ok());

    // Bob signs out everywhere: his tokens issued before now are refused, a new one passes.
    t.verifier
        .revoke(&Revocation::Subject(zw_contracts::events::SubjectRevoked {
            sub_sha256: fingerprint("bob"),
            issued_before: now + 1,
            until: now + 960,
        }));
    assert_eq!(t.verifier.verify(&other).await, Err(AuthError::Revoked));
    let bob = TokenRequest {
        subject: "bob".into(),
        ..request(Role::Citizen, "440304")
    };
    let fresh = t.issuer.issue_at(&bob, now + 1).expect("issue");
    assert!(t.verifier.verify(&fresh.access_token).await.is_ok());

    // The key is retired: every token it signed is refused as from an unknown key.
    let kid = t.issuer.active().kid().to_owned();
    t.verifier
        .revoke(&Revocation::Key(zw_contracts::events::SigningKeyRetired {
            kid: kid.clone(),
            until: now + 990,
        }));
    assert_eq!(
        t.verifier.verify(&fresh.access_token).await,
        Err(AuthError::UnknownKey(kid))
    );
    assert!(t.verifier.key_ids().is_empty());
}

async fn whoami(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"subject": p.subject}))
}

async fn maybe(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"subject": p.0.map(|p| p.subject)}))
}

#[actix_web::test]
async fn the_extractor_answers_401_problems_with_a_bearer_challenge() {
    let t = TestIssuer::new(&settings());
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(t.verifier.clone()))
            .route("/me", web::get().to(whoami))
            .route("/maybe", web::get().to(maybe)),
    )
    .await;
    let good = t.token(Role::Citizen, "440304", "c1");

    let res = atest::call_service(&app, atest::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"zhiwang\"")
    );
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: serde_json::Value = atest::read_body_json(res).await;
    assert_eq!(body["reason"], "missing_token");

    for auth in ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer"] {
        let req = atest::TestRequest::get()
            .uri("/me")
            .insert_header(("Authorization", auth))
            .to_request();
        let res = atest::call_service(&app, req).await;
        assert_eq!(res.status(), 401, "{auth}");
        assert!(res.headers().contains_key("www-authenticate"));
    }

    let req = atest::TestRequest::get()
        .uri("/me")
        .insert_header(("Authorization", format!("Bearer {good}")))
        .to_request();
    let body: serde_json::Value = atest::call_and_read_body_json(&app, req).await;
    assert_eq!(body["subject"], "c1");

    let req = atest::TestRequest::get().uri("/maybe").to_request();
    let body: serde_json::Value = atest::call_and_read_body_json(&app, req).await;
    assert_eq!(body["subject"], serde_json::Value::Null);
    let req = atest::TestRequest::get()
        .uri("/maybe")
        .insert_header(("Authorization", "Bearer x.y.z"))
        .to_request();
    assert_eq!(atest::call_service(&app, req).await.status(), 401);
    let req = atest::TestRequest::get()
        .uri("/maybe")
        .insert_header(("Authorization", format!("bearer {good}")))
        .to_request();
    let body: serde_json::Value = atest::call_and_read_body_json(&app, req).await;
    assert_eq!(body["subject"], "c1");
}

#[tokio::test]
async fn a_token_verified_before_is_refused_once_its_key_leaves_the_key_set() {
    let s = settings();
    let t = TestIssuer::new(&s);
    let token = t.token(Role::Citizen, "440304", "alice");
    assert!(t.verifier.verify(&token).await.is_ok());
    assert!(t.verifier.verify(&token).await.is_ok(), "and again");
    // Another issuer's key set replaces this one: the remembered verdict goes with the old keys.
    let other = TestIssuer::new(&s);
    t.verifier.replace_keys(&other.issuer.jwks());
    assert!(matches!(
        t.verifier.verify(&token).await,
        Err(AuthError::UnknownKey(_))
    ));
    t.verifier.replace_keys(&t.issuer.jwks());
    assert!(t.verifier.verify(&token).await.is_ok(), "its key is back");
}
