//! Every account and key change leaves evidence, sealed under a published tree head.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn account_and_key_changes_leave_evidence_under_a_published_signed_tree_head() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .post_as(
            "/users",
            &admin,
            &json!({"username": "officer-evidence", "password": "long enough pw", "roles": ["street_officer"], "scope": "440304001"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.expect("json");
    let rotated: Value = app
        .post_empty_as("/keys/rotate", &admin)
        .await
        .json()
        .await
        .expect("json");

    let created =
        zw_evidence::records_for_object(&app.db, &format!("user/{}", user["id"].as_str().unwrap()))
            .await
            .expect("records");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].action, "user.create");
    let rotation = zw_evidence::records_for_object(
        &app.db,
        &format!("signing_key/{}", rotated["kid"].as_str().unwrap()),
    )
    .await
    .expect("records");
    assert_eq!(rotation[0].action, "signing_key.rotate");

    let head: zw_evidence::PublishedHead = public(&app, "/evidence/tree-head").await;
    assert!(
        head.tree_head.tree_size >= rotation[0].seq,
        "the head covers the rotation"
    );
    let key = zw_evidence::EvidencePublicKey::from_base64(&head.public_key).expect("key");
    zw_evidence::verify_tree_head(&head.tree_head, &key).expect("signed");
    let proof = zw_evidence::inclusion_proof(&app.db, created[0].seq, None)
        .await
        .expect("proof");
    zw_evidence::verify_inclusion_proof(&proof, &key).expect("the user's creation is in the log");

    // The keys are published without a token, and none of them is in the database.
    let published: zw_evidence::PublishedKeys = public(&app, "/evidence/keys").await;
    assert_eq!(published.service, "identity");
    assert_eq!(
        published.keys.last().map(|k| k.key_id.clone()),
        Some(key.key_id())
    );
    let trusted = zw_evidence::TrustedKeys::from_published(&published).expect("keys");
    zw_evidence::verify_stored(&app.db, &trusted)
        .await
        .expect("the whole log verifies");
    let key_file = app.settings.evidence_keys_dir().join("identity.json");
    assert!(key_file.exists(), "the key lives in {}", key_file.display());
    // Another change, another head: the newer head only extends the older one.
    app.post_empty_as("/keys/rotate", &admin).await;
    let newer: zw_evidence::PublishedHead = public(&app, "/evidence/tree-head").await;
    assert!(newer.tree_head.tree_size > head.tree_head.tree_size);
    let proof: zw_evidence::ConsistencyProof = public(
        &app,
        &format!(
            "/evidence/consistency?old={}&new={}",
            head.tree_head.tree_size, newer.tree_head.tree_size
        ),
    )
    .await;
    zw_evidence::verify_consistency_proof(&proof, &key).expect("the log only grew");
}

#[tokio::test]
async fn the_first_signing_key_leaves_evidence_like_every_later_key_change() {
    let app = spawn_app().await;
    let first = kid_of(&app.admin_token().await);
    let records = zw_evidence::records_for_object(&app.db, &format!("signing_key/{first}"))
        .await
        .expect("records");
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(actions, vec![("system:identity", "signing_key.create")]);

    // A restart on the same database finds the key and creates neither a key nor evidence.
    let second = start(app.settings.clone(), None).await;
    assert_eq!(second.jwks().await.keys.len(), 1);
    let again = zw_evidence::records_for_object(&app.db, &format!("signing_key/{first}"))
        .await
        .expect("records");
    assert_eq!(again.len(), 1);
}

/// A public route's JSON, fetched without a token.
async fn public<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str) -> T {
    app.client
        .get(app.at(path))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}
