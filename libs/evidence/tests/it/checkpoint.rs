//! The signed tree head as a C2SP checkpoint, checked with implementations of signed-note and
//! tlog-checkpoint the project did not write (the `signed_note` and `tlog_tiles` crates), and
//! witness cosignatures taken through the public route and shown with the checkpoint.

use actix_web::http::StatusCode;
use actix_web::{App, test as atest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use signed_note::{Note, StandardVerifier, VerifierList};
use zw_evidence::{CheckpointSettings, EvidenceLog, Witness};

use crate::helpers::{Backend, append_n, fresh, on_both_backends};

on_both_backends!(
    the_checkpoint_verifies_with_an_independent_signed_note_implementation,
    a_witness_cosignature_is_verified_stored_and_shown_with_its_checkpoint,
    cosignatures_of_unknown_witnesses_or_other_checkpoints_are_refused,
);

const ORIGIN_BASE: &str = "https://zhiwang.futian.example.gov.cn/";
const ORIGIN: &str = "zhiwang.futian.example.gov.cn/grid";

/// A witness of our own making, signing `cosignature/v1` as c2sp.org/tlog-cosignature says.
struct TestWitness {
    name: String,
    key: ed25519_dalek::SigningKey,
    timestamp: u64,
}

impl TestWitness {
    fn new(name: &str, timestamp: u64) -> TestWitness {
        let secret: [u8; 32] = rand::random();
        TestWitness {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&secret),
            timestamp,
        }
    }

    fn encoded_key(&self) -> Vec<u8> {
        let mut encoded = vec![0x04];
        encoded.extend_from_slice(self.key.verifying_key().as_bytes());
        encoded
    }

    /// The verifier key, its id computed by the independent implementation.
    fn vkey(&self) -> String {
        let id = signed_note::key_id(&self.name, &self.encoded_key());
        format!(
            "{}+{id:08x}+{}",
            self.name,
            BASE64.encode(self.encoded_key())
        )
    }
}

impl signed_note::Signer for TestWitness {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        signed_note::key_id(&self.name, &self.encoded_key())
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut message = format!("cosignature/v1\ntime {}\n", self.timestamp).into_bytes();
        message.extend_from_slice(msg);
        let mut sig = self.timestamp.to_be_bytes().to_vec();
        sig.extend_from_slice(&self.key.sign(&message).to_bytes());
        Ok(sig)
    }
}

async fn open_log(
    backend: Backend,
    witnesses: &[&TestWitness],
) -> (zw_testkit::TestDb, EvidenceLog, tempfile::TempDir) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = CheckpointSettings::new(ORIGIN_BASE, "grid");
    settings.witnesses = witnesses
        .iter()
        .map(|w| w.vkey().parse::<Witness>().expect("the witness key parses"))
        .collect();
    let log = EvidenceLog::open(db.conn.clone(), "grid", dir.path(), true, settings)
        .await
        .expect("the log opens");
    (db, log, dir)
}

/// `req` sent to the evidence routes of `log`.
async fn call(log: &EvidenceLog, req: atest::TestRequest) -> actix_web::dev::ServiceResponse {
    let app = atest::init_service(
        App::new().configure(|cfg| zw_evidence::http::configure(cfg, "grid", log.clone())),
    )
    .await;
    atest::call_service(&app, req.to_request()).await
}

/// The log's note verifier key, as `…/evidence/keys` publishes it.
async fn published_vkey(log: &EvidenceLog) -> String {
    let res = call(
        log,
        atest::TestRequest::get().uri("/api/v1/grid/evidence/keys"),
    )
    .await;
    let keys: serde_json::Value = atest::read_body_json(res).await;
    assert_eq!(keys["checkpoint"]["origin"], ORIGIN);
    keys["checkpoint"]["verifier_key"]
        .as_str()
        .expect("a verifier key")
        .to_owned()
}

async fn get_checkpoint(log: &EvidenceLog, query: &str) -> (StatusCode, String, String) {
    let res = call(
        log,
        atest::TestRequest::get().uri(&format!("/api/v1/grid/evidence/checkpoint{query}")),
    )
    .await;
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = atest::read_body(res).await;
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

async fn post_note(
    log: &EvidenceLog,
    content_type: &str,
    note: &str,
) -> (StatusCode, serde_json::Value) {
    let res = call(
        log,
        atest::TestRequest::post()
            .uri("/api/v1/grid/evidence/checkpoint")
            .insert_header(("content-type", content_type))
            .set_payload(note.to_owned()),
    )
    .await;
    let status = res.status();
    let body = atest::read_body(res).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// `note` cosigned by `witness`, the note assembled by the independent implementation.
fn cosigned(note: &str, witness: &TestWitness) -> String {
    let mut parsed = Note::from_bytes(note.as_bytes()).expect("the checkpoint parses as a note");
    parsed.add_sigs(&[witness]).expect("cosigned");
    String::from_utf8(parsed.to_bytes()).expect("utf-8")
}

async fn the_checkpoint_verifies_with_an_independent_signed_note_implementation(backend: Backend) {
    let (db, log, _dir) = open_log(backend, &[]).await;
    append_n(&db, 5).await;
    let head = log.seal().await.expect("sealed");

    let vkey = published_vkey(&log).await;
    let (status, content_type, body) = get_checkpoint(&log, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let verifier = StandardVerifier::new(&vkey).expect("the published verifier key parses");
    let note = Note::from_bytes(body.as_bytes()).expect("a signed note");
    let (verified, unverified) = note
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .expect("the log's signature verifies");
    assert_eq!(verified.len(), 1);
    assert!(unverified.is_empty());

    let checkpoint = tlog_tiles::Checkpoint::from_bytes(note.text()).expect("a checkpoint");
    assert_eq!(checkpoint.origin(), ORIGIN);
    assert_eq!(checkpoint.size(), 5);
    assert_eq!(hex::encode(checkpoint.hash().0), head.root_hash);

    // One character of the text changed: the independent verifier refuses it.
    let forged = body.replacen("\n5\n", "\n4\n", 1);
    let verifier = StandardVerifier::new(&vkey).expect("vkey");
    assert!(
        Note::from_bytes(forged.as_bytes())
            .expect("still a note")
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .is_err(),
        "a changed size must not verify"
    );

    // An earlier head, by its size; and a size never sealed.
    append_n(&db, 2).await;
    log.seal().await.expect("sealed again");
    let (status, _, earlier) = get_checkpoint(&log, "?tree_size=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        earlier, body,
        "the checkpoint of a size is always the same note"
    );
    let (status, _, latest) = get_checkpoint(&log, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(latest.starts_with(&format!("{ORIGIN}\n7\n")), "{latest}");
    let (status, content_type, _) = get_checkpoint(&log, "?tree_size=6").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    let (status, _, _) = get_checkpoint(&log, "?tree_size=six").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn a_witness_cosignature_is_verified_stored_and_shown_with_its_checkpoint(backend: Backend) {
    let witness = TestWitness::new("witness.example.org", 1_764_892_800);
    let (db, log, _dir) = open_log(backend, &[&witness]).await;
    append_n(&db, 3).await;
    let (_, _, note) = get_checkpoint(&log, "").await;

    let (status, body) = post_note(
        &log,
        "text/plain; charset=utf-8",
        &cosigned(&note, &witness),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tree_size"], 3);
    assert_eq!(body["cosignatures"][0]["witness"], "witness.example.org");
    assert_eq!(body["cosignatures"][0]["timestamp"], 1_764_892_800_u64);

    // Shown with the checkpoint of that size, even after the log grew; both signatures verify
    // with the independent implementation.
    append_n(&db, 1).await;
    log.seal().await.expect("sealed");
    let (status, _, shown) = get_checkpoint(&log, "?tree_size=3").await;
    assert_eq!(status, StatusCode::OK);
    let log_key = StandardVerifier::new(&published_vkey(&log).await).expect("vkey");
    let parsed = Note::from_bytes(shown.as_bytes()).expect("a note");
    let (verified, unverified) = parsed
        .verify(&VerifierList::new(vec![Box::new(log_key)]))
        .expect("the log's signature verifies");
    assert_eq!(verified.len(), 1);
    assert_eq!(unverified.len(), 1, "the witness's line is kept: {shown}");
    assert_eq!(unverified[0].name(), "witness.example.org");
    assert_eq!(unverified[0].id(), signed_note::Signer::key_id(&witness));
    assert_eq!(
        shown,
        cosigned(&note, &witness),
        "served as the witness signed it"
    );
    let (_, _, latest) = get_checkpoint(&log, "").await;
    assert!(
        !latest.contains("witness.example.org"),
        "a cosignature belongs to its size only"
    );

    // Sent twice: stored once.
    let (status, _) = post_note(&log, "text/plain", &cosigned(&note, &witness)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, again) = get_checkpoint(&log, "?tree_size=3").await;
    assert_eq!(again.matches("witness.example.org").count(), 1, "{again}");
}

async fn cosignatures_of_unknown_witnesses_or_other_checkpoints_are_refused(backend: Backend) {
    let witness = TestWitness::new("witness.example.org", 1_764_892_800);
    let stranger = TestWitness::new("stranger.example.net", 1_764_892_800);
    let (db, log, _dir) = open_log(backend, &[&witness]).await;
    append_n(&db, 3).await;
    let (_, _, note) = get_checkpoint(&log, "").await;

    let refused = |status: StatusCode, body: &serde_json::Value, want: StatusCode, what: &str| {
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            body["type"].is_string() || body["code"].is_string(),
            "{what}: a problem: {body}"
        );
    };
    let (status, body) = post_note(&log, "text/plain", &cosigned(&note, &stranger)).await;
    refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a witness not configured",
    );

    // A cosignature line by the right witness, but over another text, moved under ours.
    let over_other = cosigned(
        &note.replacen(&format!("{ORIGIN}\n3\n"), &format!("{ORIGIN}\n4\n"), 1),
        &witness,
    );
    let transplanted = format!("{note}{}\n", over_other.lines().last().expect("a line"));
    let (status, body) = post_note(&log, "text/plain", &transplanted).await;
    refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a signature over another text",
    );

    // The text of another log, or of a size never sealed.
    let other_origin = cosigned(
        &note.replacen(ORIGIN, "elsewhere.example/grid", 1),
        &witness,
    );
    let (status, body) = post_note(&log, "text/plain", &other_origin).await;
    refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another origin",
    );
    let other_size = cosigned(
        &note.replacen(&format!("{ORIGIN}\n3\n"), &format!("{ORIGIN}\n9\n"), 1),
        &witness,
    );
    let (status, body) = post_note(&log, "text/plain", &other_size).await;
    refused(status, &body, StatusCode::NOT_FOUND, "a size never sealed");
    let other_root = cosigned(
        &note.replacen(&format!("{ORIGIN}\n3\n"), &format!("{ORIGIN}\n3\nAAAA"), 1),
        &witness,
    );
    let (status, body) = post_note(&log, "text/plain", &other_root).await;
    refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another root",
    );

    // Not a note, not text, too large.
    let (status, body) = post_note(&log, "text/plain", "hello").await;
    refused(status, &body, StatusCode::BAD_REQUEST, "not a note");
    let (status, body) = post_note(&log, "application/json", &cosigned(&note, &witness)).await;
    refused(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON");
    let (status, body) = post_note(&log, "text/plain", &"x".repeat(70 * 1024)).await;
    refused(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "too large");

    // Nothing refused was stored.
    let (_, _, shown) = get_checkpoint(&log, "?tree_size=3").await;
    assert_eq!(shown, note, "{shown}");

    // A log with no witness configured takes none.
    let (_db2, bare, _dir2) = open_log(backend, &[]).await;
    let (status, body) = post_note(&bare, "text/plain", &cosigned(&note, &witness)).await;
    refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no witnesses configured",
    );
}
