//! Password and client-secret hashing: argon2id with the crate's defaults (19 MiB, 2 passes,
//! 1 lane — OWASP's recommendation), as PHC strings. Hashing runs on a few threads of its own
//! (one per core, at most [`MAX_HASHING_THREADS`]) so a login never stalls the HTTP workers:
//! not on tokio's blocking pool, where every concurrent hash took a thread of its own (up to
//! 512) and 19 MiB with it, so a flood of logins could take gigabytes; now it queues.
//!
//! (Each hash still allocates and frees its 19 MiB, and glibc keeps up to about three such
//! blocks per malloc arena once one was freed: the ~230 MB that `zhiwang up` holds after seeding,
//! measured 2026-12-04. Reusing one buffer per hashing thread would end that; not done yet.)
//!
//! [`Passwords::verify_or_dummy`] compares against a dummy hash when there is no account, so an
//! unknown name costs the same time as a wrong password and timing does not reveal names.

use std::sync::Arc;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

/// Hashes and checks secrets. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    dummy: Arc<str>,
}

impl Passwords {
    /// Prepare the dummy hash (of a random secret nobody knows).
    pub async fn new() -> anyhow::Result<Passwords> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let dummy = hash_blocking(random.to_vec()).await?;
        Ok(Passwords {
            dummy: dummy.into(),
        })
    }

    /// Hash a new secret into a PHC string (`$argon2id$v=19$…`).
    pub async fn hash(&self, secret: &str) -> anyhow::Result<String> {
        hash_blocking(secret.as_bytes().to_vec()).await
    }

    /// Whether `secret` matches `hash`; with `hash` `None` (no such account) the dummy hash is
    /// checked instead and the answer is always `false`.
    pub async fn verify_or_dummy(&self, secret: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy.to_string());
        let secret = secret.as_bytes().to_vec();
        let ok = on_hashing_thread(move || -> anyhow::Result<bool> {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored hash is not a PHC string: {e}"))?;
            Ok(Argon2::default().verify_password(&secret, &parsed).is_ok())
        })
        .await
        .context("password check task")??;
        Ok(ok && known)
    }
}

async fn hash_blocking(secret: Vec<u8>) -> anyhow::Result<String> {
    on_hashing_thread(move || -> anyhow::Result<String> {
        let hash: PasswordHash = Argon2::default()
            .hash_password(&secret)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        Ok(hash.to_string())
    })
    .await
    .context("password hashing task")?
}

/// At most this many threads hash passwords (fewer on a machine with fewer cores).
pub const MAX_HASHING_THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, started on first use.
fn hashing_queue() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<Job>> {
    static QUEUE: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, MAX_HASHING_THREADS);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password hashing thread did not start");
            }
        }
        std::sync::Mutex::new(tx)
    })
}

/// Run `work` on a hashing thread and wait for its result.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    hashing_queue()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .map_err(|_| anyhow::anyhow!("no password hashing thread is running"))?;
    result
        .await
        .map_err(|_| anyhow::anyhow!("the password hashing thread stopped"))
}

/// A new random client secret: 32 bytes, base64url (43 characters).
pub fn new_client_secret() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_secret_only_and_the_dummy_never_matches() {
        let p = Passwords::new().await.expect("passwords");
        let hash = p.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            p.verify_or_dummy("correct horse", Some(&hash))
                .await
                .expect("check")
        );
        assert!(
            !p.verify_or_dummy("wrong horse", Some(&hash))
                .await
                .expect("check")
        );
        assert!(
            !p.verify_or_dummy("correct horse", None)
                .await
                .expect("check")
        );
        assert_eq!(new_client_secret().expect("secret").len(), 43);
    }
}
