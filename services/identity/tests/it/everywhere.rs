//! Identity's revocations take effect in every verifier at once: identity, a street centre and
//! the gateway in front of them, each with the verifier its own process would have (remote, with
//! a key-set refresh only every hour, following the revocation events on the bus), on NATS
//! JetStream and on the in-process bus. After a token revocation, a sign-out and a key
//! retirement, the affected tokens are refused by the gateway and by the service as soon as the
//! event arrives, the others still pass, and a verifier that starts later refuses them too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use zw_auth::{AuthError, Verifier};
use zw_platform::Settings;
use zw_testkit::{PATIENCE, RunningApp, TestEnv, eventually};

use crate::helpers::*;

macro_rules! on_both_buses {
    ($($behaviour:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(zw_testkit::TestEnv::nats().await).await;
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(zw_testkit::TestEnv::in_process()).await;
                }
            )*
        }
    };
}

on_both_buses!(
    revocations_are_refused_by_the_gateway_and_a_service_at_once_and_by_verifiers_started_later,
);

/// A street officer's read, through the gateway or straight at the street centre.
const STATS: &str = "/api/v1/street/stats?under=440304008";

struct Platform {
    identity: TestApp,
    street: RunningApp,
    gateway: RunningApp,
    street_settings: Settings,
    env: TestEnv,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A remote verifier that follows the revocation events, as `zhiwang serve` wires one.
fn following_verifier(settings: &Settings, env: &TestEnv, stop: &CancellationToken) -> Verifier {
    let verifier = Verifier::remote(&settings.auth);
    drop(verifier.follow(env.bus.clone(), &settings.district.code, stop.clone()));
    verifier
}

async fn platform(mut env: TestEnv) -> Platform {
    // Only events can make a verifier change its mind within a test.
    env.set("ZW__AUTH__JWKS_REFRESH_SECS", "3600");
    let identity = start_on(env.settings().await, None, env.bus.clone()).await;
    env.set("ZW__AUTH__JWKS_URL", &identity.settings.auth.jwks_url);
    let stop = CancellationToken::new();

    let street_settings = env.settings().await;
    let verifier = following_verifier(&street_settings, &env, &stop);
    let street = zw_street::build(
        &street_settings,
        env.bus.clone(),
        verifier,
        RunningApp::listener(),
    )
    .await
    .expect("the street centre builds");
    let street = RunningApp::start(street);

    env.set("ZW__GATEWAY__UPSTREAMS__STREET", &street.base_url);
    env.set("ZW__GATEWAY__UPSTREAMS__IDENTITY", &identity.url);
    let gateway_settings = env.settings().await;
    let verifier = following_verifier(&gateway_settings, &env, &stop);
    let gateway = zw_gateway::build(&gateway_settings, verifier, RunningApp::listener())
        .await
        .expect("the gateway builds");
    let gateway = RunningApp::start(gateway);
    Platform {
        identity,
        street,
        gateway,
        street_settings,
        env,
        stop,
    }
}

impl Platform {
    /// What the gateway and the street centre answer `token`, with the reason of a refusal.
    async fn verdicts(&self, token: &str) -> [(StatusCode, Value); 2] {
        let mut out = Vec::new();
        for base in [&self.gateway, &self.street] {
            let res = base
                .client
                .get(base.url(STATS))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            out.push((status, body["reason"].clone()));
        }
        [out[0].clone(), out[1].clone()]
    }

    async fn passes(&self, token: &str, what: &str) {
        for (status, reason) in self.verdicts(token).await {
            assert_eq!(status, StatusCode::OK, "{what}: {reason}");
        }
    }

    /// Wait until both refuse `token` with 401 `reason` (the event's way there; no refresh).
    async fn refused(&self, token: &str, reason: &str) {
        let what = format!("the gateway and the street centre to refuse a token ({reason})");
        eventually(PATIENCE, &what, || async {
            self.verdicts(token)
                .await
                .iter()
                .all(|(s, r)| *s == StatusCode::UNAUTHORIZED && r == reason)
                .then_some(())
        })
        .await;
    }
}

async fn revocations_are_refused_by_the_gateway_and_a_service_at_once_and_by_verifiers_started_later(
    env: TestEnv,
) {
    let p = platform(env).await;
    let id = &p.identity;
    // A token of the first key, then a rotation: the officer's tokens are the new key's.
    let admin_old_key = id.admin_token().await;
    let old_kid = kid_of(&admin_old_key);
    assert_eq!(
        id.post_empty_as("/keys/rotate", &admin_old_key)
            .await
            .status(),
        201
    );
    let admin = id.admin_token().await;
    let revoked = id.login(OFFICER, OFFICER_PASSWORD).await;
    let signed_out = id.login(OFFICER, OFFICER_PASSWORD).await;
    // Every verifier fetches its keys and revocations now; the next fetch is an hour away.
    for token in [&admin_old_key, &admin, &revoked, &signed_out] {
        p.passes(token, "before any revocation").await;
    }

    // One token, revoked by its holder.
    let res = id
        .post_as("/revoke", &revoked, &json!({"token": revoked}))
        .await;
    assert_eq!(res.status(), 200);
    p.refused(&revoked, "revoked").await;
    p.passes(&signed_out, "the holder's other token").await;
    p.passes(&admin, "another user's token").await;

    // The officer, signed out everywhere by an admin.
    let officer_id = id.user_id(OFFICER).await;
    let res = id
        .post_empty_as(&format!("/users/{officer_id}/sign-out"), &admin)
        .await;
    assert_eq!(res.status(), 204);
    p.refused(&signed_out, "revoked").await;
    p.passes(&admin, "another user's token").await;
    let fresh = id.login(OFFICER, OFFICER_PASSWORD).await;
    p.passes(&fresh, "a login after the sign-out").await;

    // The first key retired.
    // The key set as it was before the retirement, as a stale cache would hold it.
    let stale_keys = id.jwks().await;
    assert_eq!(stale_keys.keys.len(), 2);
    let res = id
        .post_empty_as(&format!("/keys/{old_kid}/retire"), &admin)
        .await;
    assert_eq!(res.status(), 200);
    p.refused(&admin_old_key, "unknown_key").await;
    p.passes(&admin, "the new key's tokens").await;
    p.passes(&fresh, "the new key's tokens").await;

    // Verifiers that start now: one that fetches, and one that only follows the bus.
    let late = Verifier::remote(&p.street_settings.auth);
    assert_eq!(late.verify(&revoked).await, Err(AuthError::Revoked));
    assert_eq!(late.verify(&signed_out).await, Err(AuthError::Revoked));
    assert_eq!(
        late.verify(&admin_old_key).await,
        Err(AuthError::UnknownKey(old_kid.clone()))
    );
    assert!(late.verify(&fresh).await.is_ok());
    let listener = Verifier::fixed(stale_keys, &p.street_settings.auth);
    assert!(
        listener.verify(&admin_old_key).await.is_ok(),
        "it knows nothing yet"
    );
    let follower = listener.follow(
        p.env.bus.clone(),
        &p.street_settings.district.code,
        p.stop.clone(),
    );
    for (token, want) in [
        (&revoked, AuthError::Revoked),
        (&signed_out, AuthError::Revoked),
        (&admin_old_key, AuthError::UnknownKey(old_kid.clone())),
    ] {
        eventually(
            PATIENCE,
            "a verifier started later to learn from the bus",
            || async { (listener.verify(token).await == Err(want.clone())).then_some(()) },
        )
        .await;
    }
    assert!(listener.verify(&fresh).await.is_ok());
    p.stop.cancel();
    follower.await.expect("stops");
}
