//! Key rotation and retirement.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_new_tokens_with_the_new_key() {
    let app = spawn_app().await;
    let verifier = remote_verifier(&app);
    let old_token = app.admin_token().await;
    let old_kid = kid_of(&old_token);
    assert!(verifier.verify(&old_token).await.is_ok());

    let res = app.post_empty_as("/keys/rotate", &old_token).await;
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.expect("json");
    let new_kid = key["kid"].as_str().expect("kid").to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(key["active"], true);

    let jwks = app.jwks().await;
    let kids: Vec<_> = jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert_eq!(kids, vec![new_kid.clone(), old_kid.clone()]);

    let new_token = app.admin_token().await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert!(
        verifier.verify(&new_token).await.is_ok(),
        "the new kid is fetched at once"
    );
    assert!(verifier.verify(&old_token).await.is_ok());
    assert_eq!(app.get_as("/me", &old_token).await.status(), 200);
    assert_eq!(app.get_as("/me", &new_token).await.status(), 200);
}

#[tokio::test]
async fn retiring_a_key_makes_its_tokens_fail() {
    let app = spawn_app().await;
    let old_token = app.admin_token().await;
    let old_kid = kid_of(&old_token);
    assert_eq!(
        app.post_empty_as("/keys/rotate", &old_token).await.status(),
        201
    );
    let new_token = app.admin_token().await;

    let res = app
        .post_empty_as(&format!("/keys/{old_kid}/retire"), &new_token)
        .await;
    assert_eq!(res.status(), 200);
    let key: Value = res.json().await.expect("json");
    assert!(key["retired_at"].is_string());

    let jwks = app.jwks().await;
    assert!(jwks.find(&old_kid).is_none());
    assert_eq!(jwks.keys.len(), 1);
    let body = problem(app.get_as("/me", &old_token).await, 401).await;
    assert_eq!(body["reason"], "unknown_key");
    assert!(remote_verifier(&app).verify(&old_token).await.is_err());
    assert_eq!(app.get_as("/me", &new_token).await.status(), 200);

    let keys: Vec<Value> = app
        .get_as("/keys", &new_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["active"], true);
    assert_eq!(keys[1]["kid"], old_kid.as_str());
    assert!(keys.iter().all(|k| k.get("private_key").is_none()));
}

#[tokio::test]
async fn the_active_key_cannot_be_retired_and_unknown_keys_are_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let active = kid_of(&admin);
    let body = problem(
        app.post_empty_as(&format!("/keys/{active}/retire"), &admin)
            .await,
        409,
    )
    .await;
    assert_eq!(body["code"], "active-key");
    problem(
        app.post_empty_as("/keys/no-such-key/retire", &admin).await,
        404,
    )
    .await;
    assert_eq!(app.jwks().await.keys.len(), 1);
    assert_eq!(app.get_as("/me", &admin).await.status(), 200);

    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    problem(app.post_empty_as("/keys/rotate", &officer).await, 403).await;
    problem(
        app.post_empty_as(&format!("/keys/{active}/retire"), &officer)
            .await,
        403,
    )
    .await;
    problem(app.get_as("/keys", &officer).await, 403).await;
}

#[tokio::test]
async fn keys_live_in_the_database_so_a_restarted_service_keeps_verifying_its_tokens() {
    let first = spawn_app().await;
    let token = first.admin_token().await;
    let second = start(first.settings.clone(), None).await;
    assert_eq!(second.jwks().await, first.jwks().await);
    assert_eq!(second.get_as("/me", &token).await.status(), 200);
}
