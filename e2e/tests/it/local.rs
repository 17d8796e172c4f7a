//! `zhiwang up` of one's own, as a new user runs it: the built binary on a free port with a
//! temporary data folder, its standard output and error in one stream (as a terminal shows
//! them), read up to the end of the banner.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `zhiwang up`; stopped (and its data folder removed) when dropped.
pub struct LocalPlatform {
    /// The gateway, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// Everything it printed up to and with the banner's last line, in order.
    pub output: Vec<String>,
    child: Child,
    data: PathBuf,
}

impl LocalPlatform {
    /// Start `zhiwang up` (seeded) with `env` added to its environment; wait for the banner.
    pub async fn start(env: &[(&str, &str)]) -> LocalPlatform {
        let data = std::env::temp_dir().join(format!("zw-local-{}", uuid::Uuid::new_v4()));
        // One pipe for both streams, as on a terminal: the shell joins them before exec.
        let mut command = Command::new("sh");
        command
            .args(["-c", "exec \"$0\" \"$@\" 2>&1"])
            .arg(zw_e2e::cluster::bin())
            .args(["up", "--port", "0", "--data-dir"])
            .arg(&data)
            .env_remove("ZW__BUS__URL")
            .env_remove("ZW__DATABASE__URL")
            .env_remove("ZW__REDIS__URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("zhiwang up starts");
        let stdout = child.stdout.take().expect("stdout");
        let reading = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let done = line.contains("Press Ctrl-C to stop");
                lines.push(line.trim_end_matches('\n').to_owned());
                line.clear();
                if done {
                    // Keep draining so the process never blocks on a full pipe.
                    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                    break;
                }
            }
            lines
        });
        let output = tokio::time::timeout(Duration::from_secs(180), reading)
            .await
            .expect("the banner within 3 min")
            .expect("reading the output");
        assert!(
            output.iter().any(|l| l.contains("Press Ctrl-C to stop")),
            "zhiwang up stopped before its banner:\n{}",
            output.join("\n")
        );
        let base = output
            .iter()
            .find_map(|l| l.trim().strip_prefix("API gateway"))
            .and_then(|rest| rest.trim().split("/api/").next())
            .unwrap_or_else(|| panic!("the gateway URL in the banner: {output:#?}"))
            .to_owned();
        LocalPlatform {
            base,
            output,
            child,
            data,
        }
    }

    /// The gateway's merged OpenAPI document once it holds every service's (a service slow to
    /// answer while the machine is busy is left out for a few seconds, then fetched again).
    pub async fn merged_document(&self) -> serde_json::Value {
        let url = format!("{}/api/openapi.json", self.base);
        zw_testkit::eventually(
            Duration::from_secs(60),
            "a merged document with every service",
            || async {
                let doc: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
                doc.get("x-zhiwang-unavailable").is_none().then_some(doc)
            },
        )
        .await
    }

    /// The token the banner exports as `ZW_TOKEN_<NAME>`.
    pub fn banner_token(&self, name: &str) -> String {
        let prefix = format!("export ZW_TOKEN_{name}=");
        self.output
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("ZW_TOKEN_{name} in the banner: {:#?}", self.output))
    }

    /// A fresh token for a demo account, by logging in over the identity API.
    pub async fn login(&self, username: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/identity/token", self.base))
            .json(&serde_json::json!({
                "grant_type": "password",
                "username": username,
                "password": zw_demo::DEMO_PASSWORD,
            }))
            .send()
            .await
            .expect("the token endpoint answers");
        let (status, body) = zw_e2e::cluster::decode(res).await;
        assert_eq!(status, 200, "{username} logs in: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for LocalPlatform {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
