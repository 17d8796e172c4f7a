//! `zhiwang up`: the whole platform in one process — every service on its own local port and
//! its own SQLite file, the in-process bus (or NATS when `bus.url` is set), in-memory rate limits
//! (or Redis when `redis.url` is set), the demo district seeded, and the gateway in front.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;
use zw_demo::{DEMO_PASSWORD, DemoDistrict};
use zw_platform::Settings;

use crate::modules::Module;

#[derive(Args)]
pub struct UpArgs {
    /// Port of the gateway (the one URL users and clients call) [default: http.port, 8080].
    #[arg(long)]
    port: Option<u16>,
    /// Address the gateway listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Folder for the services' SQLite files, created if missing [default: database.data_dir,
    /// .zhiwang].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Do not seed the demo district and demo accounts.
    #[arg(long)]
    no_seed: bool,
}

pub async fn run(mut settings: Settings, args: UpArgs) -> anyhow::Result<ExitCode> {
    zw_platform::telemetry::init(&settings.telemetry, "zhiwang");
    if let Some(dir) = &args.data_dir {
        settings.database.data_dir = dir.clone();
    }
    let data_dir = settings.database.data_dir.clone();
    let port = args.port.unwrap_or(settings.http.port);
    // Each service gets its own SQLite file in the data folder; a single database URL cannot
    // serve eight services that must not share a database.
    settings.database.url = secrecy::SecretString::from(String::new());
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;

    let gateway_listener = zw_platform::http::bind(&args.host, port).with_context(|| {
        format!(
            "cannot listen on {}:{port} (is another zhiwang running? try --port)",
            args.host
        )
    })?;
    let mut listeners = Vec::new();
    let mut upstreams = BTreeMap::new();
    for m in Module::BACKENDS {
        let l = zw_platform::http::bind("127.0.0.1", 0)?;
        let port = l.local_addr()?.port();
        upstreams.insert(m.name().to_owned(), format!("http://127.0.0.1:{port}"));
        listeners.push((m, l));
    }
    let identity_url = upstreams
        .get(zw_identity::NAME)
        .cloned()
        .unwrap_or_default();
    settings.auth.jwks_url = format!("{identity_url}/api/v1/identity/.well-known/jwks.json");
    settings.gateway.upstreams = upstreams.clone();
    // House QR codes open this process's own declaration page unless a public URL was set.
    let gateway_port = gateway_listener.local_addr()?.port();
    if Settings::load_with(None, Vec::new())
        .is_ok_and(|d| d.grid.public_url == settings.grid.public_url)
    {
        settings.grid.public_url = format!("http://{}:{gateway_port}", display_host(&args.host));
    }

    let bus = zw_bus::Bus::connect(&settings.bus_config())
        .await
        .context("connecting to the bus")?;
    let demo = DemoDistrict::generate(&settings.district.code, &settings.district.name);
    if !args.no_seed {
        for m in Module::BACKENDS {
            crate::seed::seed(&settings, m, &demo)
                .await
                .with_context(|| format!("seeding the demo district into {}", m.name()))?;
        }
    }

    let verifier = zw_auth::Verifier::remote(&settings.auth);
    // Every listener is bound before any service runs, so early requests (the banner's logins)
    // wait in the listen backlog instead of failing.
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    for (m, l) in listeners {
        let app = m
            .build(&settings, bus.clone(), verifier.clone(), l)
            .await
            .with_context(|| format!("starting {}", m.name()))?;
        running.push(spawn(m, app, &stop));
    }
    let gateway = Module::Gateway
        .build(&settings, bus.clone(), verifier.clone(), gateway_listener)
        .await?;
    // The one verifier of this process (every service's and the gateway's) follows identity's
    // revocations for as long as the gateway runs.
    let gateway = crate::modules::follow_revocations(gateway, &verifier, bus.clone(), &settings);
    let base = format!("http://{}:{}", display_host(&args.host), gateway.port());
    running.push(spawn(Module::Gateway, gateway, &stop));

    print_banner(&settings, &base, &demo, !args.no_seed).await;

    tokio::select! {
        _ = zw_platform::http::shutdown_signal() => eprintln!("\nstopping…"),
        _ = stop.cancelled() => eprintln!("a service stopped; stopping the others…"),
    }
    stop.cancel();
    let mut failed = false;
    for (name, task) in running {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed = true;
                eprintln!("zhiwang: {name}: {e}");
            }
            Err(e) => {
                failed = true;
                eprintln!("zhiwang: {name}: {e}");
            }
        }
    }
    tokio::task::spawn_blocking(zw_platform::telemetry::shutdown)
        .await
        .ok();
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

type Running = (&'static str, tokio::task::JoinHandle<std::io::Result<()>>);

/// Run one service; if it stops on its own, stop everything (one process, one fate).
fn spawn(m: Module, app: zw_platform::http::Application, stop: &CancellationToken) -> Running {
    let stop = stop.clone();
    let task = tokio::spawn(async move {
        let result = app.run_until_stopped(stop.clone().cancelled_owned()).await;
        stop.cancel();
        result
    });
    (m.name(), task)
}

fn display_host(host: &str) -> &str {
    if host == "0.0.0.0" { "127.0.0.1" } else { host }
}

async fn login(base: &str, username: &str) -> Option<String> {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/identity/token"))
        .json(&serde_json::json!({"grant_type": "password", "username": username, "password": DEMO_PASSWORD}))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = res.json().await.ok()?;
    body["access_token"].as_str().map(str::to_owned)
}

/// The accounts whose tokens the banner prints: those the README's examples use.
const BANNER_TOKENS: [&str; 4] = ["citizen", "citizen-2", "grid-worker", "district-officer"];

/// Print the banner as one block, after everything it needs (the demo tokens) is fetched: the
/// start-up log lines come before it, none inside it, so a user can copy it whole.
async fn print_banner(settings: &Settings, base: &str, demo: &DemoDistrict, seeded: bool) {
    let banner = banner(settings, base, demo, seeded).await;
    let mut out = std::io::stdout().lock();
    // One write under the lock: log lines (also written to stdout) wait for the whole block.
    let _ = out.write_all(banner.as_bytes());
    let _ = out.flush();
}

/// The banner's text (it logs in as the demo accounts for their tokens).
async fn banner(settings: &Settings, base: &str, demo: &DemoDistrict, seeded: bool) -> String {
    let bus = match settings.bus_url() {
        Some(url) => format!("NATS at {url}"),
        None => "in-process".to_owned(),
    };
    let limits = match settings.redis_url() {
        Some(_) => "Redis",
        None => "in-memory",
    };
    let mut lines = Vec::new();
    lines.push(String::new());
    lines.push(format!(
        "Zhiwang (织网) is up: {} ({})",
        demo.name, demo.code
    ));
    lines.push(format!("  API gateway   {base}/api/v1/<service>/…"));
    lines.push(format!("  API docs      {base}/api/docs"));
    lines.push(format!("  OpenAPI       {base}/api/openapi.json"));
    lines.push(format!(
        "  data folder   {}   bus: {bus}   rate limits: {limits}",
        settings.database.data_dir.display()
    ));
    if seeded {
        let accounts = demo.accounts();
        lines.push(String::new());
        lines.push(format!("Demo accounts (password \"{DEMO_PASSWORD}\"):"));
        for a in &accounts {
            lines.push(format!(
                "  {:<18} {:<18} scope {}",
                a.username,
                a.roles.join(","),
                a.scope
            ));
        }
        lines.push(String::new());
        lines.push(format!(
            "Demo tokens (valid {} s; log in again for fresh ones, see README.md):",
            settings.identity.access_token_ttl_secs
        ));
        let users = BANNER_TOKENS
            .into_iter()
            .filter(|user| accounts.iter().any(|a| a.username == *user));
        for user in users {
            match login(base, user).await {
                Some(t) => lines.push(format!("  export {}={t}", token_variable(user))),
                None => lines.push(format!("  ({user}: login failed; see the log)")),
            }
        }
        if let Some((house, resident)) = demo.example_resident() {
            let house = house.to_string();
            let post = |user: &str| {
                format!(
                    "curl -s -X POST {base}/api/v1/grid/declarations -H \"Authorization: Bearer ${}\" -H 'Content-Type: application/json'",
                    token_variable(user)
                )
            };
            // The second citizen (when the demo has one) declares a person the register does
            // not know; the first is the register's resident of the example house.
            let stranger = if accounts.iter().any(|a| a.username == "citizen-2") {
                "citizen-2"
            } else {
                "citizen"
            };
            lines.push(String::new());
            lines.push(format!(
                "Try it (house {house} is the first house of grid {}):",
                &house[..15]
            ));
            lines.push(
                "  accepted at once (the register has this person at this house):".to_owned(),
            );
            lines.push(format!(
                "    {} -d '{{\"id_number\":\"{resident}\",\"house_code\":\"{house}\"}}'",
                post("citizen")
            ));
            lines.push(
                "  pending, with a task for the grid worker (an ID the register does not know):"
                    .to_owned(),
            );
            lines.push(format!(
                "    {} -d '{{\"id_number\":\"{}\",\"house_code\":\"{house}\"}}'",
                post(stranger),
                zw_demo::UNREGISTERED_ID_NUMBER
            ));
            lines.push(format!("  the grid worker's tasks:  curl -s {base}/api/v1/grid/tasks -H \"Authorization: Bearer $ZW_TOKEN_GRID_WORKER\""
            ));
            lines.push(format!("  counts at the district:   curl -s '{base}/api/v1/district/stats?under={}' -H \"Authorization: Bearer $ZW_TOKEN_DISTRICT_OFFICER\"",
                &house[..9]
            ));
        }
    }
    lines.push(String::new());
    lines.push("Press Ctrl-C to stop.".to_owned());
    lines.push(String::new());
    lines.join("\n")
}

/// `citizen-2` → `ZW_TOKEN_CITIZEN_2`.
fn token_variable(user: &str) -> String {
    format!("ZW_TOKEN_{}", user.to_uppercase().replace('-', "_"))
}
