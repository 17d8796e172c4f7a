//! The first minutes of a new user: the banner of `zhiwang up` can be copied whole, and the
//! README's commands use the tokens it exports.

use std::collections::BTreeSet;

use crate::local::LocalPlatform;

/// Whether `line` is a log line (pretty: a timestamp first, maybe after a colour code; JSON: an
/// object), not banner text.
fn is_log_line(line: &str) -> bool {
    let plain = strip_ansi(line);
    let plain = plain.trim_start();
    let timestamp = plain.len() >= 11
        && plain.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && plain.as_bytes()[4] == b'-'
        && plain.as_bytes()[10] == b'T';
    timestamp || plain.starts_with("{\"timestamp\"")
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ … final byte in @–~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn the_banner_is_one_block_with_no_log_line_inside() {
    let platform = LocalPlatform::start(&[]).await;
    let output = &platform.output;

    let first = output
        .iter()
        .position(|l| l.starts_with("Zhiwang (织网) is up"))
        .unwrap_or_else(|| panic!("the banner's first line: {output:#?}"));
    let last = output
        .iter()
        .position(|l| l.contains("Press Ctrl-C to stop"))
        .expect("the banner's last line");
    let banner = &output[first..=last];
    let logs: Vec<&String> = banner.iter().filter(|l| is_log_line(l)).collect();
    assert!(
        logs.is_empty(),
        "log lines inside the banner:\n{}\n\nthe banner:\n{}",
        logs.iter()
            .map(|l| strip_ansi(l))
            .collect::<Vec<_>>()
            .join("\n"),
        banner.join("\n")
    );
    let exports: Vec<&String> = banner
        .iter()
        .filter(|l| l.trim_start().starts_with("export ZW_TOKEN_"))
        .collect();
    assert!(exports.len() >= 3, "the demo tokens: {banner:#?}");
    // The export lines follow each other, so they paste as one.
    let at = |l: &String| banner.iter().position(|b| b == l).unwrap_or(0);
    assert_eq!(
        at(exports[exports.len() - 1]) - at(exports[0]),
        exports.len() - 1,
        "{banner:#?}"
    );
    // A token from the banner works.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/identity/me", platform.base))
        .bearer_auth(platform.banner_token("CITIZEN"))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md")
}

/// The token variables the README's "log in yourself" sets (`NAME=$(…)`).
fn readme_assigned_token_variables() -> BTreeSet<String> {
    let readme = readme();
    readme
        .match_indices("=$(")
        .map(|(at, _)| {
            let name: String = readme[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            name.chars().rev().collect::<String>()
        })
        .filter(|name| name.contains("TOKEN"))
        .collect()
}

/// The `$ZW_TOKEN_…` variables the README's shell commands use.
fn readme_token_variables() -> BTreeSet<String> {
    readme()
        .split("$ZW_TOKEN_")
        .skip(1)
        .map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            format!("ZW_TOKEN_{name}")
        })
        .collect()
}

#[tokio::test]
async fn every_token_the_readme_uses_is_one_its_login_sets_and_the_banner_exports() {
    let platform = LocalPlatform::start(&[]).await;
    let exported: BTreeSet<String> = platform
        .output
        .iter()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split('=').next().map(str::to_owned))
        .collect();

    let used = readme_token_variables();

    assert!(used.contains("ZW_TOKEN_CITIZEN"), "{used:?}");
    // Logging in yourself sets the very variables the commands use.
    let assigned = readme_assigned_token_variables();
    assert_eq!(
        assigned, used,
        "the README's login sets {assigned:?}, its commands use {used:?}"
    );
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the README uses {missing:?}, which the banner does not export ({exported:?})"
    );
}

#[test]
fn log_lines_are_told_from_banner_lines() {
    assert!(is_log_line(
        "\u{1b}[2m2026-12-03T13:44:40.313267Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m access token issued"
    ));
    assert!(is_log_line(
        "{\"timestamp\":\"2026-12-03T13:44:40Z\",\"level\":\"INFO\"}"
    ));
    assert!(!is_log_line("  export ZW_TOKEN_CITIZEN=eyJ0eXAi"));
    assert!(!is_log_line("Zhiwang (织网) is up: Futian (demo) (440304)"));
    assert!(!is_log_line(""));
}
