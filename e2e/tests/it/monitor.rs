//! `zhiwang evidence monitor` against a service whose log is rewritten by someone who holds both
//! its database and its signing key: the log served from the same URL, re-signed with the same
//! key, but no longer an extension of what the monitor saw. The service is a minimal HTTP server
//! of this test serving what such a service would serve; the monitor is the built binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{Value, json};
use zw_evidence::merkle::{self, Hash};
use zw_evidence::{EvidenceRecord, EvidenceSigner, GENESIS_PREV_HASH, KeyFile, payload_hash};

/// Bodies by path and query (`/tree-head`, `/consistency?old=5&new=7`, …).
type Routes = Arc<Mutex<HashMap<String, Value>>>;

/// Serves `routes` under `/api/v1/grid/evidence` until the test ends; returns the base URL.
fn serve(routes: Routes) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://{}/api/v1/grid/evidence",
        listener.local_addr().expect("addr")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or("");
            let path = target
                .strip_prefix("/api/v1/grid/evidence")
                .unwrap_or(target);
            let found = routes.lock().expect("routes").get(path).cloned();
            let (status, body) = match found {
                Some(body) => ("200 OK", body.to_string()),
                None => ("404 Not Found", json!({"code": "not-found"}).to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// `n` records; `actor_of_2` lets a rewrite change record 2.
fn records(n: i64, actor_of_2: &str) -> Vec<EvidenceRecord> {
    let mut out: Vec<EvidenceRecord> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(GENESIS_PREV_HASH.to_owned(), |r| r.record_hash.clone());
        let actor = if seq == 2 { actor_of_2 } else { "user/1" };
        out.push(EvidenceRecord::new(
            seq,
            actor,
            "declaration.confirm",
            &format!("declaration/{seq}"),
            &payload_hash(&json!({ "n": seq })),
            Utc::now(),
            &prev,
        ));
    }
    out
}

fn leaves(records: &[EvidenceRecord]) -> Vec<Hash> {
    records.iter().filter_map(|r| r.leaf_hash()).collect()
}

/// What the service publishes for `records` signed by `signer`: its heads at `sizes`, the
/// consistency proofs between them, its keys.
fn publish(
    routes: &Routes,
    keys: &KeyFile,
    signer: &EvidenceSigner,
    records: &[EvidenceRecord],
    sizes: &[i64],
) {
    let leaves = leaves(records);
    let heads: Vec<_> = sizes
        .iter()
        .map(|n| signer.sign_tree_head(*n, &merkle::root(&leaves[..*n as usize]), Utc::now()))
        .collect();
    let mut r = routes.lock().expect("routes");
    r.clear();
    r.insert(
        "/keys".into(),
        serde_json::to_value(keys.published()).unwrap(),
    );
    let last = heads.last().expect("a head");
    r.insert(
        "/tree-head".into(),
        json!({"public_key": signer.public_key_base64(), "tree_head": last}),
    );
    for old in &heads {
        for new in &heads {
            if old.tree_size < new.tree_size {
                let proof = merkle::consistency_proof(
                    old.tree_size as u64,
                    &leaves[..new.tree_size as usize],
                )
                .expect("proof");
                r.insert(
                    format!("/consistency?old={}&new={}", old.tree_size, new.tree_size),
                    json!({
                        "old": old,
                        "new": new,
                        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
                    }),
                );
            }
        }
    }
}

fn monitor(base: &str, state: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(zw_e2e::cluster::bin())
        .args(["evidence", "monitor", base, "--once", "--state"])
        .arg(state)
        .args(extra)
        .output()
        .expect("run zhiwang");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_monitor_follows_a_growing_log_and_exits_on_a_rewrite_signed_with_the_real_key() {
    let keys = KeyFile::generate("grid");
    let signer = keys.signer().expect("signer");
    let routes: Routes = Arc::default();
    let base = serve(routes.clone());
    let dir = std::env::temp_dir().join(format!("zw-monitor-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("grid.monitor.json");

    let genuine = records(9, "user/1");
    publish(&routes, &keys, &signer, &genuine, &[5]);
    let (code, out) = monitor(
        &base,
        &state,
        &["--public-key", &signer.public_key_base64()],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("OK: first head: size 5"), "{out}");

    publish(&routes, &keys, &signer, &genuine, &[5, 9]);
    let (code, out) = monitor(&base, &state, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("size 9") && out.contains("extends size 5"),
        "{out}"
    );

    // Record 2 rewritten, the log rechained and re-signed with the genuine key.
    let rewritten = records(11, "user/evil");
    publish(&routes, &keys, &signer, &rewritten, &[5, 9, 11]);
    let (code, out) = monitor(&base, &state, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("REWRITE"), "{out}");

    // The same size with another root, and a dropped tail, are rewrites too.
    publish(&routes, &keys, &signer, &rewritten, &[9]);
    let (code, out) = monitor(&base, &state, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("REWRITE") && out.contains("size 9"), "{out}");
    publish(&routes, &keys, &signer, &genuine, &[7]);
    let (code, out) = monitor(&base, &state, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("tail was dropped"), "{out}");

    // A head signed by a key the service does not publish.
    let forger = EvidenceSigner::generate();
    publish(&routes, &keys, &forger, &genuine, &[5, 9]);
    let (code, out) = monitor(&base, &state, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not publish"), "{out}");

    // What the monitor kept still proves the genuine log: verify accepts an export of it and
    // refuses an export that drops its tail.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["heads"].as_array().map(Vec::len), Some(2), "{saved}");
    let leaves = leaves(&genuine);
    let export = |records: &[EvidenceRecord], size: i64| {
        json!({
            "format": zw_evidence::EXPORT_FORMAT,
            "service": "grid",
            "public_keys": keys.published().keys,
            "tree_heads": [signer.sign_tree_head(size, &merkle::root(&leaves[..size as usize]), Utc::now())],
            "records": records,
        })
    };
    let file = dir.join("export.json");
    std::fs::write(&file, export(&genuine, 9).to_string()).unwrap();
    let verify = |extra: &[&str]| {
        let out = std::process::Command::new(zw_e2e::cluster::bin())
            .args(["evidence", "verify"])
            .arg(&file)
            .args(extra)
            .output()
            .expect("run zhiwang");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = verify(&["--state", state.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("extends 2 heads seen before"), "{out}");
    std::fs::write(&file, export(&genuine[..5], 5).to_string()).unwrap();
    let (code, out) = verify(&["--state", state.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("tail was dropped"), "{out}");
    let (code, out) = verify(&[]);
    assert_eq!(code, Some(2), "no pinned key: {out}");
    assert!(out.starts_with("UNVERIFIED"), "{out}");
    let (code, out) = verify(&["--trust-embedded-key"]);
    assert_eq!(code, Some(0), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
