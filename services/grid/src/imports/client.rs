//! The client side of the import API: what `zhiwang import` and the district-scale benchmark
//! use to send a CSV file in chunks, with a progress bar.
//!
//! Each chunk goes in whole or not at all, and a chunk already loaded changes nothing when sent
//! again, so an interrupted import is resumed by sending the same file again.

use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Streets, communities and grids: `code,name[,lat,lng,worker,worker_name]`.
    Jurisdictions,
    /// Houses: `code,address,status,registered_size[,category,legal]`.
    Houses,
    /// Residents: `id_number,name,house_code[,phone]`.
    Residents,
}

impl Kind {
    /// The route that takes this kind.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Jurisdictions => "/api/v1/grid/jurisdictions/import",
            Kind::Houses => "/api/v1/grid/imports/houses",
            Kind::Residents => "/api/v1/grid/imports/residents",
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The platform's address (the gateway, or the grid service itself).
    pub url: String,
    /// An access token of an officer entitled to import.
    pub token: String,
    /// Rows per request (at most [`super::MAX_ROWS`]).
    pub chunk: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Totals of an import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub created: u64,
    pub unchanged: u64,
    /// Cases the collection rules raised for new records.
    pub cases_raised: u64,
}

/// Send `csv` (header + rows) in chunks; stops at the first refused chunk, naming its lines.
pub async fn upload(target: &Target, kind: Kind, csv: &str) -> anyhow::Result<Totals> {
    if target.chunk == 0 || target.chunk > super::MAX_ROWS {
        bail!("a chunk is 1 to {} rows", super::MAX_ROWS);
    }
    let mut lines = csv.lines();
    let header = lines.next().context("the file is empty")?;
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let url = format!("{}{}", target.url.trim_end_matches('/'), kind.path());
    let bar = if target.progress {
        ProgressBar::new(rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows  {per_sec}  eta {eta}")?
            .progress_chars("=> "),
    );
    bar.set_message(format!("{:?}", kind).to_lowercase());
    let mut totals = Totals::default();
    for (i, chunk) in rows.chunks(target.chunk).enumerate() {
        let mut body = String::with_capacity(header.len() + chunk.len() * 64);
        body.push_str(header);
        body.push('\n');
        for row in chunk {
            body.push_str(row);
            body.push('\n');
        }
        let res = client
            .post(&url)
            .bearer_auth(&target.token)
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to {url}"))?;
        let status = res.status();
        let answer: serde_json::Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            bar.abandon();
            // Lines in the answer count from the chunk's own header (line 1).
            let first = i * target.chunk + 2;
            bail!(
                "rows {first}–{} of the file (chunk {}; the answer's line 2 is file line {first}) were refused: {status}: {}\n\
                 earlier chunks are in; fix the file and run the same command again",
                first + chunk.len() - 1,
                i + 1,
                answer["detail"].as_str().unwrap_or("no detail")
            );
        }
        totals.rows += chunk.len() as u64;
        totals.created += count(&answer, "created");
        totals.unchanged += count(&answer, "unchanged");
        totals.cases_raised += count(&answer, "cases_raised");
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(totals)
}

/// A count from an import report; the jurisdictions report nests them per level.
fn count(answer: &serde_json::Value, field: &str) -> u64 {
    match &answer[field] {
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        serde_json::Value::Object(levels) => levels.values().filter_map(|v| v.as_u64()).sum(),
        _ => 0,
    }
}
