//! Password and client-secret hashing: argon2id with the crate's defaults (19 MiB, 2 passes,
//! 1 lane — OWASP's recommendation), as PHC strings. Hashing runs on a few threads of its own
//! (one per core, at most [`MAX_HASHING_THREADS`]) so a login never stalls the HTTP workers:
//! not on tokio's blocking pool, where every concurrent hash took a thread of its own (up to
//! 512) and 19 MiB with it, so a flood of logins could take gigabytes; now it queues. A thread
//! is started only when a hash finds the running ones busy ([`HashingPool`]), so hashing one at
//! a time keeps one thread and one buffer.
//!
//! Each hashing thread hashes into one memory buffer of its own, allocated at its first hash and
//! reused for every later one ([`with_memory`]). The crate's own calls allocate and free 19 MiB
//! per hash, and glibc kept up to three such blocks per malloc arena once one was freed: about
//! 230 MB of the 280 MB `zhiwang up` held after seeding; now it holds about 90 MB
//! (`scripts/up-memory`, docs/figures.md). Each hashing thread keeps its 19 MiB for good. The PHC strings are the crate's ([`hash_into_phc`] and [`verify_phc`] do
//! what `PasswordHasher::hash_password` and `PasswordVerifier::verify_password` do, on that
//! memory), so hashes stored before verify as they did.
//!
//! [`Passwords::verify_or_dummy`] compares against a dummy hash when there is no account, so an
//! unknown name costs the same time as a wrong password and timing does not reveal names.

use std::cell::RefCell;
use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
        let ok = on_hashing_thread(move || verify_phc(&secret, &hash))
            .await
            .context("password check task")??;
        Ok(ok && known)
    }
}

async fn hash_blocking(secret: Vec<u8>) -> anyhow::Result<String> {
    on_hashing_thread(move || hash_into_phc(&secret))
        .await
        .context("password hashing task")?
}

/// The memory of one hash with the parameters new hashes use, in 1 KiB blocks (19 MiB).
const HASH_BLOCKS: usize = Params::DEFAULT.block_count();

thread_local! {
    /// This thread's argon2 memory: empty until its first hash, then [`HASH_BLOCKS`] for good.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on at least `blocks` blocks of argon2 memory: this thread's reused buffer, or for a
/// stored hash made with more memory than new hashes use, a buffer of its own freed after.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > HASH_BLOCKS {
        let mut own = vec![Block::new(); blocks];
        return f(&mut own);
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.is_empty() {
            *memory = vec![Block::new(); HASH_BLOCKS];
        }
        f(memory)
    })
}

/// Hash `secret` with a fresh random salt into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`),
/// as `Argon2::default().hash_password` does, on this thread's memory.
fn hash_into_phc(secret: &[u8]) -> anyhow::Result<String> {
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let argon2 = Argon2::default();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(secret, &salt, &mut output, memory)
    })
    .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon2.params()).map_err(phc_error)?,
        salt: Some(Salt::new(&salt).map_err(phc_error)?),
        hash: Some(Output::new(&output).map_err(phc_error)?),
    };
    Ok(hash.to_string())
}

fn phc_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("argon2 PHC string: {e}")
}

/// Whether `secret` matches the PHC string `hash`, as `Argon2::default().verify_password`
/// decides it (the algorithm, version and parameters the string names; the output compared in
/// constant time), on this thread's memory. Err only when `hash` is not a PHC string; a PHC
/// string argon2 cannot check (another algorithm, bad parameters) matches nothing, as before.
fn verify_phc(secret: &[u8], hash: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| anyhow::anyhow!("stored hash is not a PHC string: {e}"))?;
    Ok(argon2_matches(secret, &parsed).unwrap_or(false))
}

/// `None` when argon2 cannot check `hash`.
fn argon2_matches(secret: &[u8], hash: &PasswordHash) -> Option<bool> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return None;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let argon2 = Argon2::new(algorithm, version, Params::try_from(hash).ok()?);
    let mut output = vec![0u8; expected.len()];
    with_memory(argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(secret, salt, &mut output, memory)
    })
    .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&output).ok()? == *expected)
}

/// At most this many threads hash passwords (fewer on a machine with fewer cores).
pub const MAX_HASHING_THREADS: usize = 4;

/// What a hashing thread runs: the work, which returns how to hand its result over (so the
/// thread counts itself free again before the caller can send the next job).
type Job = Box<dyn FnOnce() -> Handover + Send>;
type Handover = Box<dyn FnOnce() + Send>;

/// The hashing threads and their queue. A thread (and with it its 19 MiB of argon2 memory) is
/// started only when a job finds every running one busy, up to the limit: hashing one at a time
/// (seeding the demo accounts, a quiet identity service) keeps one thread.
struct HashingPool {
    queue: std::sync::mpsc::Sender<Job>,
    jobs: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<Job>>>,
    counts: Arc<std::sync::Mutex<Counts>>,
    max_threads: usize,
}

#[derive(Default)]
struct Counts {
    /// Threads started.
    threads: usize,
    /// Threads free for the next job.
    free: usize,
    /// Jobs sent and not yet taken by a thread.
    queued: usize,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl HashingPool {
    fn new(max_threads: usize) -> Self {
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        HashingPool {
            queue,
            jobs: Arc::new(std::sync::Mutex::new(jobs)),
            counts: Arc::default(),
            max_threads,
        }
    }

    /// Queue `job`, first starting a thread if every running one is busy (and the limit allows).
    fn submit(&self, job: Job) -> anyhow::Result<()> {
        let mut counts = lock(&self.counts);
        if counts.queued + 1 > counts.free
            && counts.threads < self.max_threads
            && self.start_thread(counts.threads)
        {
            // Counted free at once: the job below is meant for it.
            counts.threads += 1;
            counts.free += 1;
        }
        anyhow::ensure!(counts.threads > 0, "no password hashing thread is running");
        self.queue
            .send(job)
            .map_err(|_| anyhow::anyhow!("no password hashing thread is running"))?;
        counts.queued += 1;
        Ok(())
    }

    /// Start hashing thread number `index`; false if it did not start.
    fn start_thread(&self, index: usize) -> bool {
        let jobs = self.jobs.clone();
        let counts = self.counts.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let Ok(job) = lock(&jobs).recv() else {
                        return;
                    };
                    {
                        let mut counts = lock(&counts);
                        counts.queued -= 1;
                        counts.free -= 1;
                    }
                    let hand_over = job();
                    lock(&counts).free += 1;
                    hand_over();
                }
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "a password hashing thread did not start");
                false
            }
        }
    }

    /// How many threads were started.
    #[cfg(test)]
    fn threads(&self) -> usize {
        lock(&self.counts).threads
    }
}

/// The one pool of this process, made on first use.
fn hashing_pool() -> &'static HashingPool {
    static POOL: std::sync::OnceLock<HashingPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let max_threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, MAX_HASHING_THREADS);
        HashingPool::new(max_threads)
    })
}

/// Run `work` on a hashing thread and wait for its result.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let out = work();
        Box::new(move || {
            let _ = done.send(out);
        })
    });
    hashing_pool().submit(job)?;
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
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    /// Made by the code before [`with_memory`] (`Argon2::default().hash_password`, which
    /// allocates its own memory) for the secret "correct horse".
    const MADE_BEFORE: &str = "$argon2id$v=19$m=19456,t=2,p=1$eoUJPaSQ5gWQCaibG4+ixA$FJ1yRhGOui4t2wFcP+ARV29JwEIRghX00k2hTTjPe4g";

    #[test]
    fn a_hash_stored_before_verifies_and_a_new_one_verifies_on_the_crates_own_path() {
        assert!(verify_phc(b"correct horse", MADE_BEFORE).expect("check"));
        assert!(!verify_phc(b"correct horsf", MADE_BEFORE).expect("check"));

        let crate_made = Argon2::default()
            .hash_password(b"battery staple")
            .expect("hash")
            .to_string();
        assert!(verify_phc(b"battery staple", &crate_made).expect("check"));

        let ours = hash_into_phc(b"battery staple").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"battery stapler", &parsed)
                .is_err()
        );
        // Same algorithm, version and parameters as the crate's own; only salt and hash differ.
        let prefix = |phc: &str| phc.rsplitn(3, '$').nth(2).map(str::to_owned);
        assert_eq!(prefix(&ours), prefix(&crate_made));
        assert_eq!(
            prefix(&ours).as_deref(),
            Some("$argon2id$v=19$m=19456,t=2,p=1")
        );
        assert_ne!(
            ours,
            hash_into_phc(b"battery staple").expect("hash"),
            "a fresh salt each"
        );
    }

    #[test]
    fn hashes_with_other_parameters_verify_as_the_crate_verifies_them() {
        let made_with = [
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(64, 3, 2, Some(16)),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x13,
                Params::new(256, 1, 4, Some(64)),
            ),
            // More memory than new hashes use: verified on a buffer of its own.
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(Params::DEFAULT_M_COST + 1024, 1, 1, None),
            ),
        ];
        for (algorithm, version, params) in made_with {
            let hash = Argon2::new(algorithm, version, params.expect("valid parameters"))
                .hash_password(b"secret-1")
                .expect("hash")
                .to_string();
            assert!(verify_phc(b"secret-1", &hash).expect("check"), "{hash}");
            assert!(!verify_phc(b"secret-2", &hash).expect("check"), "{hash}");
        }
        assert!(verify_phc(b"x", "not a hash").is_err());
        let scrypt = "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo";
        assert!(!verify_phc(b"x", scrypt).expect("a PHC string argon2 cannot check"));
        assert!(
            Argon2::default()
                .verify_password(b"x", &PasswordHash::new(scrypt).expect("PHC"))
                .is_err(),
            "as the crate's own check"
        );
    }

    #[test]
    fn a_thread_hashes_into_the_same_memory_every_time() {
        let buffer = || MEMORY.with_borrow(|m| (m.as_ptr(), m.len()));
        hash_into_phc(b"first secret").expect("hash");
        let first = buffer();
        assert_eq!(first.1, HASH_BLOCKS);
        verify_phc(b"second secret", MADE_BEFORE).expect("check");
        hash_into_phc(b"third secret").expect("hash");
        assert_eq!(buffer(), first);
    }

    /// Submit to `pool` a job that sends `value` on `results` once `release` is dropped or
    /// sends.
    fn held_job(
        pool: &HashingPool,
        value: u32,
        results: &std::sync::mpsc::Sender<u32>,
    ) -> std::sync::mpsc::Sender<()> {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let results = results.clone();
        pool.submit(Box::new(move || {
            let _ = released.recv();
            Box::new(move || {
                let _ = results.send(value);
            })
        }))
        .expect("queued");
        release
    }

    /// A guard against a hang, not a timed assertion.
    const HANG: std::time::Duration = std::time::Duration::from_secs(60);

    #[test]
    fn hashing_one_at_a_time_keeps_one_thread() {
        let pool = HashingPool::new(3);
        let (results, received) = std::sync::mpsc::channel();
        for n in 0..5 {
            drop(held_job(&pool, n, &results));
            assert_eq!(received.recv_timeout(HANG), Ok(n));
        }
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn a_job_that_finds_every_thread_busy_starts_one_up_to_the_limit() {
        let pool = HashingPool::new(2);
        let (results, received) = std::sync::mpsc::channel();
        let first = held_job(&pool, 1, &results);
        // The first thread is held: the second job gets a thread of its own and finishes.
        drop(held_job(&pool, 2, &results));
        assert_eq!(received.recv_timeout(HANG), Ok(2));
        assert_eq!(pool.threads(), 2);

        let second = held_job(&pool, 3, &results);
        // Both threads are held now: the next job waits, and no third thread starts.
        drop(held_job(&pool, 4, &results));
        assert_eq!(pool.threads(), 2);
        drop(first);
        let mut freed = [0; 2];
        for slot in &mut freed {
            *slot = received.recv_timeout(HANG).expect("a result");
        }
        // The waiting job ran on the first thread once it was free.
        freed.sort_unstable();
        assert_eq!(freed, [1, 4]);
        drop(second);
        assert_eq!(received.recv_timeout(HANG), Ok(3));
        assert_eq!(pool.threads(), 2);
    }

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
