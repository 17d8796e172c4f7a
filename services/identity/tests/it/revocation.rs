//! Revocation at identity: one token (RFC 7009), every token of a user (sign-out, disabling),
//! each stored with its evidence and its event, refused here at once, and listed for verifiers.

use serde_json::{Value, json};
use zw_auth::{AuthError, fingerprint};

use crate::helpers::*;

/// The event types in the outbox, oldest first.
async fn outbox_types(app: &TestApp) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT payload FROM outbox ORDER BY id".to_owned(),
        ))
        .await
        .expect("outbox");
    rows.iter()
        .map(|r| {
            let payload: String = r.try_get("", "payload").expect("payload");
            let env = zw_contracts::Envelope::from_bytes(payload.as_bytes()).expect("envelope");
            assert_eq!(env.jurisdiction.as_str(), "440304", "district-wide");
            env.event_type
        })
        .collect()
}

async fn evidence_actions(app: &TestApp, object: &str) -> Vec<String> {
    zw_evidence::records_for_object(&app.db, object)
        .await
        .expect("records")
        .into_iter()
        .map(|r| r.action)
        .collect()
}

#[tokio::test]
async fn a_holder_revokes_his_token_and_it_is_refused_at_once_while_his_other_token_passes() {
    let app = spawn_app().await;
    let token = app.login(OFFICER, OFFICER_PASSWORD).await;
    let other = app.login(OFFICER, OFFICER_PASSWORD).await;
    let jti = remote_verifier(&app)
        .verify(&token)
        .await
        .expect("valid")
        .token_id;

    let res = app
        .post_form_as(
            "/revoke",
            &token,
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = problem(app.get_as("/me", &token).await, 401).await;
    assert_eq!(body["reason"], "revoked");
    assert_eq!(app.get_as("/me", &other).await.status(), 200);

    assert_eq!(outbox_types(&app).await, vec!["access_token.revoked"]);
    assert_eq!(
        evidence_actions(&app, &format!("access_token/{jti}")).await,
        vec!["access_token.revoke"]
    );
    // Revoking it again (it is invalid now) answers the same and writes nothing.
    let res = app
        .post_as("/revoke", &other, &json!({"token": token}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.rows("revoked_tokens").await, 1);
    assert_eq!(outbox_types(&app).await.len(), 1);
}

#[tokio::test]
async fn a_token_that_is_not_valid_anyway_is_answered_200_and_nothing_is_written() {
    let app = spawn_app().await;
    let caller = app.login(OFFICER, OFFICER_PASSWORD).await;
    let stranger = zw_auth::testing::TestIssuer::new(&app.settings.auth).token(
        zw_auth::Role::Admin,
        "440304",
        "mallory",
    );
    for token in ["garbage", "a.b.c", stranger.as_str()] {
        let res = app
            .post_as("/revoke", &caller, &json!({"token": token}))
            .await;
        assert_eq!(res.status(), 200, "{token}");
    }
    assert_eq!(app.rows("revoked_tokens").await, 0);
    assert_eq!(app.rows("outbox").await, 0);
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_token_but_an_admin_can() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let citizen = app.login(CITIZEN, CITIZEN_PASSWORD).await;
    problem(
        app.post_as("/revoke", &citizen, &json!({"token": officer}))
            .await,
        403,
    )
    .await;
    assert_eq!(app.get_as("/me", &officer).await.status(), 200);
    assert_eq!(app.rows("revoked_tokens").await, 0);

    let res = app
        .post_as("/revoke", &admin, &json!({"token": officer}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        problem(app.get_as("/me", &officer).await, 401).await["reason"],
        "revoked"
    );
}

#[tokio::test]
async fn a_revocation_without_a_token_or_credentials_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let caller = app.login(OFFICER, OFFICER_PASSWORD).await;
    assert_eq!(
        problem(app.post_as("/revoke", &caller, &json!({})).await, 400).await["code"],
        "invalid-input"
    );
    assert_eq!(
        problem(
            app.post_as("/revoke", &caller, &json!({"token": ""})).await,
            400
        )
        .await["code"],
        "invalid-input"
    );
    let res = app
        .client
        .post(app.at("/revoke"))
        .bearer_auth(&caller)
        .header("content-type", "text/plain")
        .body(caller.clone())
        .send()
        .await
        .expect("send");
    problem(res, 415).await;
    let res = app
        .client
        .post(app.at("/revoke"))
        .form(&[("token", caller.as_str())])
        .send()
        .await
        .expect("send");
    problem(res, 401).await;
    assert_eq!(app.get_as("/me", &caller).await.status(), 200);
    assert_eq!(app.rows("revoked_tokens").await, 0);
}

#[tokio::test]
async fn signing_out_everywhere_refuses_every_earlier_token_and_a_login_right_after_passes() {
    let app = spawn_app().await;
    let first = app.login(OFFICER, OFFICER_PASSWORD).await;
    let second = app.login(OFFICER, OFFICER_PASSWORD).await;
    let bystander = app.login(CITIZEN, CITIZEN_PASSWORD).await;
    let id = app.user_id(OFFICER).await;

    let res = app
        .post_empty_as(&format!("/users/{id}/sign-out"), &first)
        .await;
    assert_eq!(res.status(), 204);
    for token in [&first, &second] {
        assert_eq!(
            problem(app.get_as("/me", token).await, 401).await["reason"],
            "revoked"
        );
    }
    assert_eq!(app.get_as("/me", &bystander).await.status(), 200);
    // Logging in again at once gives a token that passes, also within the second of the
    // sign-out (tokens count time in whole seconds); a few rounds make that case all but certain.
    for round in 0..3 {
        if round > 0 {
            let res = app
                .post_empty_as(&format!("/users/{id}/sign-out"), &first)
                .await;
            assert_eq!(problem(res, 401).await["reason"], "revoked");
            let admin = app.admin_token().await;
            let res = app
                .post_empty_as(&format!("/users/{id}/sign-out"), &admin)
                .await;
            assert_eq!(res.status(), 204);
        }
        let fresh = app.login(OFFICER, OFFICER_PASSWORD).await;
        assert_eq!(
            app.get_as("/me", &fresh).await.status(),
            200,
            "round {round}"
        );
        assert!(remote_verifier(&app).verify(&fresh).await.is_ok());
    }

    assert_eq!(outbox_types(&app).await.len(), 3);
    assert!(
        outbox_types(&app)
            .await
            .iter()
            .all(|t| t == "subject.revoked")
    );
    assert_eq!(
        evidence_actions(&app, &format!("user/{id}")).await,
        vec![
            "user.create",
            "user.sign_out",
            "user.sign_out",
            "user.sign_out"
        ]
    );
}

#[tokio::test]
async fn only_the_user_himself_or_an_admin_signs_him_out() {
    let app = spawn_app().await;
    let citizen = app.login(CITIZEN, CITIZEN_PASSWORD).await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let officer_id = app.user_id(OFFICER).await;
    problem(
        app.post_empty_as(&format!("/users/{officer_id}/sign-out"), &citizen)
            .await,
        403,
    )
    .await;
    assert_eq!(app.get_as("/me", &officer).await.status(), 200);
    let admin = app.admin_token().await;
    problem(
        app.post_empty_as(&format!("/users/{}/sign-out", uuid::Uuid::now_v7()), &admin)
            .await,
        404,
    )
    .await;
    problem(
        app.post_empty_as("/users/not-a-uuid/sign-out", &admin)
            .await,
        400,
    )
    .await;
    assert_eq!(app.rows("subject_revocations").await, 0);
    let res = app
        .post_empty_as(&format!("/users/{officer_id}/sign-out"), &admin)
        .await;
    assert_eq!(res.status(), 204);
    problem(app.get_as("/me", &officer).await, 401).await;
    assert_eq!(app.get_as("/me", &admin).await.status(), 200);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_and_cannot_log_in_until_enabled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let id = app.user_id(OFFICER).await;

    let res = app
        .post_empty_as(&format!("/users/{id}/disable"), &admin)
        .await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.expect("json");
    assert_eq!(user["disabled"], true);
    assert_eq!(
        problem(app.get_as("/me", &officer).await, 401).await["reason"],
        "revoked"
    );
    let res = app
        .token_request(
            &json!({"grant_type": "password", "username": OFFICER, "password": OFFICER_PASSWORD}),
        )
        .await;
    problem(res, 401).await;
    // Disabling again changes nothing.
    assert_eq!(
        app.post_empty_as(&format!("/users/{id}/disable"), &admin)
            .await
            .status(),
        200
    );
    assert_eq!(app.rows("subject_revocations").await, 1);

    let res = app
        .post_empty_as(&format!("/users/{id}/enable"), &admin)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["disabled"], false);
    let fresh = app.login(OFFICER, OFFICER_PASSWORD).await;
    assert_eq!(app.get_as("/me", &fresh).await.status(), 200);
    problem(app.get_as("/me", &officer).await, 401).await;
    assert_eq!(
        evidence_actions(&app, &format!("user/{id}")).await,
        vec!["user.create", "user.disable", "user.enable"]
    );
    assert_eq!(outbox_types(&app).await, vec!["subject.revoked"]);
}

#[tokio::test]
async fn disabling_is_for_admins_and_never_of_oneself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let admin_id = app.user_id(ADMIN).await;
    let officer_id = app.user_id(OFFICER).await;
    assert_eq!(
        problem(
            app.post_empty_as(&format!("/users/{admin_id}/disable"), &admin)
                .await,
            409
        )
        .await["code"],
        "own-account"
    );
    problem(
        app.post_empty_as(&format!("/users/{officer_id}/disable"), &officer)
            .await,
        403,
    )
    .await;
    problem(
        app.post_empty_as(&format!("/users/{admin_id}/enable"), &officer)
            .await,
        403,
    )
    .await;
    assert_eq!(app.get_as("/me", &admin).await.status(), 200);
    assert_eq!(app.get_as("/me", &officer).await.status(), 200);
    assert_eq!(app.rows("subject_revocations").await, 0);
}

#[tokio::test]
async fn the_revocation_list_shows_what_is_in_force_by_fingerprint_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let jti = remote_verifier(&app)
        .verify(&officer)
        .await
        .expect("valid")
        .token_id;
    let citizen_id = app.user_id(CITIZEN).await;
    assert_eq!(
        app.post_as("/revoke", &admin, &json!({"token": officer}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_empty_as(&format!("/users/{citizen_id}/sign-out"), &admin)
            .await
            .status(),
        204
    );
    let old_kid = kid_of(&admin);
    assert_eq!(
        app.post_empty_as("/keys/rotate", &admin).await.status(),
        201
    );
    let admin = app.admin_token().await;
    assert_eq!(
        app.post_empty_as(&format!("/keys/{old_kid}/retire"), &admin)
            .await
            .status(),
        200
    );

    let res = app
        .client
        .get(app.at("/revocations"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("body");
    assert!(
        !text.contains(&jti) && !text.contains(&citizen_id),
        "ids appear only as fingerprints: {text}"
    );
    let list: zw_auth::RevocationList = serde_json::from_str(&text).expect("a list");
    assert_eq!(list.tokens.len(), 1);
    assert_eq!(list.tokens[0].jti_sha256, fingerprint(&jti));
    assert_eq!(list.subjects.len(), 1);
    assert_eq!(list.subjects[0].sub_sha256, fingerprint(&citizen_id));
    assert_eq!(list.keys.len(), 1);
    assert_eq!(list.keys[0].kid, old_kid);
    let now = chrono::Utc::now().timestamp();
    for until in [
        list.tokens[0].until,
        list.subjects[0].until,
        list.keys[0].until,
    ] {
        assert!(
            until > now && until <= now + 960 + 30 + 5,
            "kept for a token lifetime: {until}"
        );
    }
    assert_eq!(
        outbox_types(&app).await,
        vec![
            "access_token.revoked",
            "subject.revoked",
            "signing_key.retired"
        ]
    );
}

#[tokio::test]
async fn a_verifier_that_starts_after_the_revocations_refuses_what_they_revoke() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let revoked = app.login(OFFICER, OFFICER_PASSWORD).await;
    let kept = app.login(OFFICER, OFFICER_PASSWORD).await;
    let signed_out = app.login(CITIZEN, CITIZEN_PASSWORD).await;
    assert_eq!(
        app.post_as("/revoke", &admin, &json!({"token": revoked}))
            .await
            .status(),
        200
    );
    let citizen_id = app.user_id(CITIZEN).await;
    assert_eq!(
        app.post_empty_as(&format!("/users/{citizen_id}/sign-out"), &admin)
            .await
            .status(),
        204
    );
    // A service starting now, on no bus at all: the list it fetches with the key set suffices.
    let verifier = remote_verifier(&app);
    assert_eq!(verifier.verify(&revoked).await, Err(AuthError::Revoked));
    assert_eq!(verifier.verify(&signed_out).await, Err(AuthError::Revoked));
    assert!(verifier.verify(&kept).await.is_ok());
    // And a restarted identity on the same database refuses them too.
    let second = start(app.settings.clone(), None).await;
    problem(second.get_as("/me", &revoked).await, 401).await;
    problem(second.get_as("/me", &signed_out).await, 401).await;
    assert_eq!(second.get_as("/me", &kept).await.status(), 200);
}
