//! The dependencies a [`Cluster`](crate::cluster::Cluster) owns when a test asks for it
//! ([`Cluster::start_owning`](crate::cluster::Cluster::start_owning)): its own PostgreSQL
//! cluster, NATS JetStream server and Redis server, each on a free port with its own files, that
//! the test stops and starts again on the same port and the same store. All are stopped and their
//! files removed when the [`Owned`] value drops.
//!
//! Where the programs are: `ZW_TEST_NATS_BIN` or the `nats-server` next to `python3` (as
//! `scripts/test` finds it), `ZW_TEST_PG_BIN_DIR` or the newest `/usr/lib/postgresql/*/bin`,
//! `redis-server` on the `PATH`. Run as root, PostgreSQL runs as the `postgres` user.

use std::fmt;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A dependency of the services that a test may take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Postgres,
    Nats,
    Redis,
}

impl Dependency {
    /// The name of its check in a service's `/readyz` report.
    pub fn readiness_check(self) -> &'static str {
        match self {
            Dependency::Postgres => "database",
            Dependency::Nats => "bus",
            Dependency::Redis => "redis",
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependency::Postgres => "PostgreSQL",
            Dependency::Nats => "NATS",
            Dependency::Redis => "Redis",
        })
    }
}

/// A port nobody listens on now (bound and released: the servers need a fixed port to come back
/// on after a stop).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("dependency log file")
}

/// Whether this process runs as root (then PostgreSQL must run as `postgres`).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A server that runs in the foreground as a child of the test (NATS, Redis).
struct Foreground {
    what: Dependency,
    program: PathBuf,
    args: Vec<String>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Foreground {
    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.what);
        let log = log_file(&self.log);
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// SIGTERM (a clean shutdown: NATS flushes its store) and wait for the exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster of its own in a temporary directory, run with `pg_ctl`.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl Postgres {
    fn bin_dir() -> PathBuf {
        if let Ok(dir) = std::env::var("ZW_TEST_PG_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
            .unwrap_or_default();
        dirs.retain(|d| d.join("initdb").exists());
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        dirs.pop().expect(
            "no PostgreSQL server programs under /usr/lib/postgresql (set ZW_TEST_PG_BIN_DIR)",
        )
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn init(dir: &Path, log: PathBuf) -> Postgres {
        let as_postgres = running_as_root();
        let data = dir.join("pgdata");
        let socket_dir = dir.join("pgsocket");
        std::fs::create_dir_all(&socket_dir).expect("socket dir");
        log_file(&log);
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .arg(&log)
                .status()
                .expect("chown");
            assert!(status.success(), "chown to postgres");
        }
        let pg = Postgres {
            bin: Self::bin_dir(),
            data,
            socket_dir,
            log,
            port: free_port(),
            as_postgres,
            running: false,
        };
        let data = pg.data.display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg
    }

    fn start(&mut self) {
        assert!(!self.running, "PostgreSQL is already running");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.socket_dir.display()
        );
        let (data, log) = (
            self.data.display().to_string(),
            self.log.display().to_string(),
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
        self.running = true;
    }

    /// A fast shutdown: open transactions are rolled back, sessions cut.
    fn stop(&mut self, mode: &str) {
        if self.running {
            let data = self.data.display().to_string();
            let _ = self
                .command("pg_ctl")
                .args(["-D", &data, "-m", mode, "-w", "stop"])
                .output();
            self.running = false;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

/// What a cluster owns: PostgreSQL, NATS and Redis of its own, under one temporary directory.
pub struct Owned {
    postgres: Postgres,
    nats: Foreground,
    redis: Foreground,
    dir: PathBuf,
}

impl Owned {
    /// Create and start all three; logs go to `logs` (`postgres.log`, `nats.log`, `redis.log`).
    pub fn start(logs: &Path) -> Owned {
        let dir = std::env::temp_dir().join(format!("zw-deps-{}", zw_testkit::unique_prefix()));
        std::fs::create_dir_all(&dir).expect("dependency dir");
        std::fs::create_dir_all(logs).expect("dependency log dir");
        let nats_bin = std::env::var("ZW_TEST_NATS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                let out = Command::new("python3")
                    .args([
                        "-c",
                        "import sys,os; print(os.path.join(sys.prefix, 'bin', 'nats-server'))",
                    ])
                    .output()
                    .expect("python3 to say where nats-server is");
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            });
        assert!(
            nats_bin.exists(),
            "no nats-server at {} (set ZW_TEST_NATS_BIN)",
            nats_bin.display()
        );
        let nats_port = free_port();
        let store = dir.join("jetstream");
        let nats = Foreground {
            what: Dependency::Nats,
            program: nats_bin,
            args: vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                nats_port.to_string(),
                "-js".into(),
                "-sd".into(),
                store.display().to_string(),
            ],
            port: nats_port,
            log: logs.join("nats.log"),
            child: None,
        };
        let redis_port = free_port();
        let redis = Foreground {
            what: Dependency::Redis,
            program: PathBuf::from("redis-server"),
            args: [
                "--port",
                &redis_port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ]
            .map(str::to_owned)
            .to_vec(),
            port: redis_port,
            log: logs.join("redis.log"),
            child: None,
        };
        let postgres = Postgres::init(&dir, logs.join("postgres.log"));
        let mut owned = Owned {
            postgres,
            nats,
            redis,
            dir,
        };
        for d in [Dependency::Postgres, Dependency::Nats, Dependency::Redis] {
            owned.start_dependency(d);
        }
        owned
    }

    /// The PostgreSQL server URL (no database), the NATS URL and the Redis URL.
    pub fn postgres_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.postgres.port)
    }

    pub fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats.port)
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis.port)
    }

    fn port(&self, d: Dependency) -> u16 {
        match d {
            Dependency::Postgres => self.postgres.port,
            Dependency::Nats => self.nats.port,
            Dependency::Redis => self.redis.port,
        }
    }

    /// Start `d` (again, on its port and store) and wait until it takes connections.
    pub fn start_dependency(&mut self, d: Dependency) {
        match d {
            Dependency::Postgres => self.postgres.start(),
            Dependency::Nats => self.nats.start(),
            Dependency::Redis => self.redis.start(),
        }
        let port = self.port(d);
        for _ in 0..300 {
            if listening(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{d} does not listen on port {port}");
    }

    /// Stop `d` cleanly (PostgreSQL `-m fast`, NATS and Redis by SIGTERM) and wait until it is
    /// gone.
    pub fn stop_dependency(&mut self, d: Dependency) {
        match d {
            Dependency::Postgres => self.postgres.stop("fast"),
            Dependency::Nats => self.nats.stop(),
            Dependency::Redis => self.redis.stop(),
        }
        assert!(!listening(self.port(d)), "{d} still listens after its stop");
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.postgres.stop("immediate");
        self.nats.stop();
        self.redis.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
