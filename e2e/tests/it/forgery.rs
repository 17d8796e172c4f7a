//! Tokens forged with an independent JWT library (PyJWT, see `e2e/tests/forgery/forge.py`) are
//! refused — 401 problem+json — by the gateway and by every service that verifies tokens when
//! sent to it directly, past the gateway; the real tokens, and the real claims re-signed with the
//! real key by the same library, are accepted on the same routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use zw_e2e::cluster::Cluster;

/// An authenticated route of a service that verifies tokens, and the demo account whose real
/// token gets a 200 there.
struct Route {
    service: &'static str,
    path: String,
    owner: &'static str,
}

/// The accounts whose real tokens are forged from: a grid worker (the forgeries widen him to a
/// district officer, or move him to the neighbouring grid) and a district officer.
const ACCOUNTS: [&str; 2] = ["grid-worker", "district-officer"];

/// Run forge.py on `input`; its printed JSON.
async fn forge(input: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forgery/forge.py");
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.to_string().as_bytes())?;
        child.wait_with_output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): the forgery test needs python3 with PyJWT: python3 -m pip install 'PyJWT[crypto]==2.10.1' (scripts/test installs it)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "forge.py failed ({}); it needs PyJWT: python3 -m pip install 'PyJWT[crypto]==2.10.1'\nstdout {stdout}\nstderr {stderr}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("forge.py printed no JSON ({e}): {stdout}\n{stderr}"))
}

/// A stand-in for the attacker's web server, on a thread of its own: answers every request with
/// `jwks` and counts them.
fn serve_attacker_keys(listener: std::net::TcpListener, jwks: Value, fetches: Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let body = jwks.to_string();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            fetches.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf);
            let _ = write!(
                socket,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

/// Status, content type and body of a GET of `url` with `token`.
async fn get(c: &Cluster, url: &str, token: &str) -> (StatusCode, String, String) {
    let res = c
        .client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.text().await.unwrap_or_default();
    (status, content_type, body)
}

#[tokio::test]
async fn tokens_forged_with_pyjwt_are_refused_at_the_gateway_and_at_every_service() {
    // Hundreds of refused tokens come from one address: the limit stays on, but out of the way.
    let c =
        Cluster::start_with(&[("gateway", "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", "100000")]).await;
    let district = c.demo.code.to_string();
    let street = c.demo.streets[0].code.to_string();
    let community = c.demo.communities().next().unwrap().code.to_string();
    let grids: Vec<String> = c.demo.grids().take(2).map(|g| g.code.to_string()).collect();
    let routes = [
        Route {
            service: "identity",
            path: "/api/v1/identity/me".into(),
            owner: "grid-worker",
        },
        Route {
            service: "grid",
            path: "/api/v1/grid/tasks".into(),
            owner: "grid-worker",
        },
        Route {
            service: "district",
            path: format!("/api/v1/district/stats?under={district}"),
            owner: "district-officer",
        },
        Route {
            service: "street",
            path: format!("/api/v1/street/stats?under={street}"),
            owner: "district-officer",
        },
        Route {
            service: "community",
            path: format!("/api/v1/community/stats?under={community}"),
            owner: "district-officer",
        },
    ];
    // Each route at the gateway, and at the service itself (what a caller inside the cluster
    // network, past the gateway, reaches).
    let url = |via: &str, route: &Route| match via {
        "gateway" => format!("{}{}", c.gateway, route.path),
        _ => format!("{}{}", c.service_url(route.service), route.path),
    };

    let (status, jwks) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/identity/.well-known/jwks.json",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the published key set: {jwks}");
    let (_, _, der) = c.identity_signing_key().await;
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let jku = format!(
        "http://{}/.well-known/jwks.json",
        attacker.local_addr().unwrap()
    );

    let mut failures = Vec::new();
    let mut tried = 0usize;
    let mut refused = 0usize;
    let mut names = std::collections::BTreeSet::new();
    let mut attacker_keys = Vec::new();
    let mut forged_sets = Vec::new();
    for account in ACCOUNTS {
        let token = c.login(account).await;
        let other_scope = if account == "grid-worker" {
            grids[1].clone()
        } else {
            "440305".to_owned()
        };
        let forged = forge(json!({
            "token": token,
            "jwks": jwks,
            "private_key_pkcs8_b64": base64::engine::general_purpose::STANDARD.encode(&der),
            "district": district,
            "other_scope": other_scope,
            "jku": jku,
        }))
        .await;
        attacker_keys.extend(forged["attacker_jwks"]["keys"].as_array().unwrap().clone());
        forged_sets.push((account, token, forged));
    }
    let fetches = Arc::new(AtomicUsize::new(0));
    serve_attacker_keys(attacker, json!({"keys": attacker_keys}), fetches.clone());

    for (account, token, forged) in &forged_sets {
        for route in &routes {
            for via in ["gateway", "direct"] {
                let at = format!("{via} GET {}", url(via, route));
                // Control: the real token is authenticated here (200 where it is its own route).
                let (real, _, body) = get(&c, &url(via, route), token).await;
                let expected_real = if route.owner == *account {
                    real == StatusCode::OK
                } else {
                    real != StatusCode::UNAUTHORIZED
                };
                if !expected_real {
                    failures.push(format!(
                        "control: {account}'s real token at {at}: {real} {body}"
                    ));
                }
                for f in forged["forgeries"].as_array().unwrap() {
                    let name = f["name"].as_str().unwrap();
                    let (status, content_type, body) =
                        get(&c, &url(via, route), f["token"].as_str().unwrap()).await;
                    if f["expect"] == "accepted" {
                        if status != real {
                            failures.push(format!(
                                "{name} (from {account}'s token) at {at}: {status}, the real token got {real}: {body}"
                            ));
                        }
                        continue;
                    }
                    tried += 1;
                    names.insert(name.to_owned());
                    if status == StatusCode::UNAUTHORIZED
                        && content_type.starts_with("application/problem+json")
                    {
                        refused += 1;
                    } else {
                        failures.push(format!(
                            "forgery \"{name}\" (from {account}'s token) at {at}: {status} {content_type} {body}"
                        ));
                    }
                }
            }
        }
    }
    println!(
        "{refused} of {tried} forged requests refused ({} kinds of forgery × {} accounts × {} routes × gateway and direct)",
        names.len(),
        ACCOUNTS.len(),
        routes.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures ({refused} of {tried} forgeries refused):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        tried >= 30 * ACCOUNTS.len() * routes.len() * 2,
        "forge.py made every forgery, the real-key ones too ({tried} requests)"
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "nobody followed a jku or x5u header to the attacker's key set"
    );
}
