//! The signing key a service keeps in its own database.

use crate::helpers::{Backend, fresh, on_both_backends};

on_both_backends!(
    the_signing_key_is_created_once_and_the_same_key_comes_back,
    replicas_starting_together_agree_on_one_key,
);

async fn the_signing_key_is_created_once_and_the_same_key_comes_back(backend: Backend) {
    let db = fresh(backend).await;
    let first = zw_evidence::load_or_create_signer(&db.conn)
        .await
        .expect("created");
    let again = zw_evidence::load_or_create_signer(&db.conn)
        .await
        .expect("loaded");
    assert_eq!(first.public_key_base64(), again.public_key_base64());
    let head = zw_evidence::seal(&db.conn, &again).await.expect("seal");
    zw_evidence::verify_tree_head(&head, &first.public_key()).expect("signed by the stored key");
}

async fn replicas_starting_together_agree_on_one_key(backend: Backend) {
    let db = fresh(backend).await;
    let starts = (0..4).map(|_| zw_evidence::load_or_create_signer(&db.conn));
    let keys: std::collections::HashSet<String> = futures::future::join_all(starts)
        .await
        .into_iter()
        .map(|s| s.expect("a key").public_key_base64())
        .collect();
    assert_eq!(keys.len(), 1, "one key for all");
}
