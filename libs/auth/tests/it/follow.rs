//! [`Verifier::follow`] against both bus implementations: each behaviour once, as a function of a
//! [`Bus`].

use tokio_util::sync::CancellationToken;
use zw_auth::testing::TestIssuer;
use zw_auth::{AuthError, Role, Verifier, fingerprint};
use zw_bus::{Bus, OutgoingMessage, StreamKind};
use zw_contracts::events::{AccessTokenRevoked, SigningKeyRetired, SubjectRevoked};
use zw_contracts::{Actor, Envelope, Event};
use zw_domain::JurisdictionCode;
use zw_platform::config::AuthSettings;

macro_rules! on_both_buses {
    ($($behaviour:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let cfg = zw_bus::BusConfig::nats(zw_testkit::nats_url())
                        .with_prefix(zw_testkit::unique_prefix());
                    let bus = zw_bus::Bus::connect(&cfg).await.expect("connect to the test NATS");
                    super::$behaviour(bus).await;
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(zw_bus::Bus::in_process(&zw_bus::BusConfig::in_process())).await;
                }
            )*
        }
    };
}

on_both_buses!(
    a_following_verifier_refuses_what_each_revocation_event_revokes_and_nothing_else,
    a_verifier_that_starts_after_a_revocation_refuses_too,
    events_of_another_district_and_unreadable_events_change_nothing,
);

fn settings() -> AuthSettings {
    zw_platform::Settings::load_with(None, [])
        .expect("default settings")
        .auth
}

fn district() -> JurisdictionCode {
    JurisdictionCode::parse("440304").expect("code")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Publish `event` as identity's outbox relay does.
async fn publish(bus: &Bus, event: Event, district: &JurisdictionCode) {
    let env = Envelope::new(&event, district.clone(), Actor::system("identity"));
    bus.publish(OutgoingMessage::event(&env, vec![]).expect("encode"))
        .await
        .expect("publish");
}

/// Wait until `verifier` gives `want` for `token` (events arrive asynchronously; the key-set
/// refresh plays no part: these verifiers have a fixed key set).
async fn until_verdict(verifier: &Verifier, token: &str, want: Result<(), AuthError>) {
    let what = format!("the verdict {want:?}");
    zw_testkit::eventually(zw_testkit::PATIENCE, &what, || async {
        (verifier.verify(token).await.map(|_| ()) == want).then_some(())
    })
    .await;
}

async fn a_following_verifier_refuses_what_each_revocation_event_revokes_and_nothing_else(
    bus: Bus,
) {
    let s = settings();
    let t = TestIssuer::new(&s);
    let stop = CancellationToken::new();
    let follower = t.verifier.follow(bus.clone(), &district(), stop.clone());
    let one = t.token(Role::Citizen, "440304", "alice");
    let alices_other = t.token(Role::Citizen, "440304", "alice");
    let bobs = t.token(Role::GridWorker, "440304001001001", "bob");
    let carols = t.token(Role::Citizen, "440304", "carol");
    let jti = t.verifier.verify(&one).await.expect("valid").token_id;

    publish(
        &bus,
        Event::AccessTokenRevoked(AccessTokenRevoked {
            jti_sha256: fingerprint(&jti),
            until: now() + 900,
        }),
        &district(),
    )
    .await;
    until_verdict(&t.verifier, &one, Err(AuthError::Revoked)).await;
    assert!(
        t.verifier.verify(&alices_other).await.is_ok(),
        "one token only"
    );

    publish(
        &bus,
        Event::SubjectRevoked(SubjectRevoked {
            sub_sha256: fingerprint("bob"),
            issued_before: now() + 1,
            until: now() + 960,
        }),
        &district(),
    )
    .await;
    until_verdict(&t.verifier, &bobs, Err(AuthError::Revoked)).await;
    assert!(t.verifier.verify(&alices_other).await.is_ok());

    let kid = t.issuer.active().kid().to_owned();
    publish(
        &bus,
        Event::SigningKeyRetired(SigningKeyRetired {
            kid: kid.clone(),
            until: now() + 990,
        }),
        &district(),
    )
    .await;
    until_verdict(&t.verifier, &carols, Err(AuthError::UnknownKey(kid))).await;
    stop.cancel();
    follower.await.expect("the follower stops when told");
}

async fn a_verifier_that_starts_after_a_revocation_refuses_too(bus: Bus) {
    let s = settings();
    let t = TestIssuer::new(&s);
    let revoked = t.token(Role::Citizen, "440304", "dave");
    let kept = t.token(Role::Citizen, "440304", "erin");
    publish(
        &bus,
        Event::SubjectRevoked(SubjectRevoked {
            sub_sha256: fingerprint("dave"),
            issued_before: now() + 1,
            until: now() + 960,
        }),
        &district(),
    )
    .await;
    // A process starting after the event: a verifier with the same keys, knowing nothing yet.
    let late = Verifier::fixed(t.issuer.jwks(), &s);
    assert!(late.verify(&revoked).await.is_ok(), "nothing applied yet");
    let stop = CancellationToken::new();
    let follower = late.follow(bus, &district(), stop.clone());
    until_verdict(&late, &revoked, Err(AuthError::Revoked)).await;
    assert!(late.verify(&kept).await.is_ok());
    stop.cancel();
    follower.await.expect("stops");
}

async fn events_of_another_district_and_unreadable_events_change_nothing(bus: Bus) {
    let s = settings();
    let t = TestIssuer::new(&s);
    let stop = CancellationToken::new();
    let follower = t.verifier.follow(bus.clone(), &district(), stop.clone());
    let franks = t.token(Role::Citizen, "440304", "frank");
    let grace = t.token(Role::Citizen, "440304", "grace");
    let elsewhere = JurisdictionCode::parse("440305").expect("code");
    publish(
        &bus,
        Event::SubjectRevoked(SubjectRevoked {
            sub_sha256: fingerprint("frank"),
            issued_before: now() + 1,
            until: now() + 960,
        }),
        &elsewhere,
    )
    .await;
    bus.publish(OutgoingMessage {
        id: uuid::Uuid::now_v7(),
        subject: "zw.evt.440304._._._.subject.revoked".into(),
        kind: StreamKind::Events,
        payload: bytes::Bytes::from_static(b"not an envelope"),
        headers: vec![],
    })
    .await
    .expect("publish");
    // A revocation after both: once it is applied, the two before it were seen and skipped.
    publish(
        &bus,
        Event::SubjectRevoked(SubjectRevoked {
            sub_sha256: fingerprint("grace"),
            issued_before: now() + 1,
            until: now() + 960,
        }),
        &district(),
    )
    .await;
    until_verdict(&t.verifier, &grace, Err(AuthError::Revoked)).await;
    assert!(
        t.verifier.verify(&franks).await.is_ok(),
        "another district's identity revokes its own tokens, not ours"
    );
    stop.cancel();
    follower.await.expect("stops");
}
