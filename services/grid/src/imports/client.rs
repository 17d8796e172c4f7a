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
    let (header, rows) = rows_of(csv)?;
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
        body.push_str(&header);
        // Where each row starts in the chunk (its header is line 1), to name file lines.
        let mut starts = Vec::with_capacity(chunk.len());
        let mut chunk_line = 2;
        for row in chunk {
            starts.push((chunk_line, row.file_line));
            chunk_line += row.text.matches('\n').count() as u64;
            body.push_str(&row.text);
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
            let (first, last) = (chunk[0].file_line, chunk[chunk.len() - 1].file_line);
            bail!(
                "file lines {first}–{last} (chunk {}) were refused: {status}: {}{}\n\
                 earlier chunks are in; fix the file and run the same command again",
                i + 1,
                answer["detail"].as_str().unwrap_or("no detail"),
                bad_file_lines(&answer, &starts),
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

/// One row of the file, as it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    /// The line of the file it starts on (the header is line 1).
    file_line: u64,
    /// The row encoded again as CSV, ending in `\n` (a quoted line break stays in its value).
    text: String,
}

/// The header and rows of a CSV file, each row with the file line it starts on; blank lines
/// are skipped but counted, and a line break inside a quoted value stays in it.
fn rows_of(csv: &str) -> anyhow::Result<(String, Vec<Row>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let mut header = None;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::default();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| anyhow::anyhow!("the file is not CSV: {e}"))?;
        if !more {
            break;
        }
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let text = encode(&record)?;
        if header.is_none() {
            header = Some(text);
            continue;
        }
        rows.push(Row {
            file_line: lines.line_at(csv, start),
            text,
        });
    }
    Ok((header.context("the file is empty")?, rows))
}

/// `record` as one CSV row ending in `\n`.
fn encode(record: &csv::StringRecord) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer.write_record(record)?;
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// Lines counted from the start of a text up to where the last row began, so that numbering
/// the rows of a file, in order, reads it once (counting from the start for each row made
/// reading a district's file take minutes).
#[derive(Debug, Default)]
struct LineCounter {
    /// Bytes before `at` are counted: `line` is the line of byte `at` (0 before the first call).
    at: usize,
    line: u64,
}

impl LineCounter {
    /// The line of the first byte at or after `at` that is not a line break (a record's
    /// position is just after the break that ended the one before, before any blank lines),
    /// counting `\n`, `\r\n` and a lone `\r` as the CSV reader does. Positions come in order; one
    /// before the last is counted from the start again.
    fn line_at(&mut self, text: &str, at: usize) -> u64 {
        let bytes = text.as_bytes();
        let mut end = at.min(bytes.len());
        while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        if self.line == 0 || end < self.at {
            (self.at, self.line) = (0, 1);
        }
        for i in self.at..end {
            match bytes[i] {
                b'\n' => self.line += 1,
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.at = end;
        self.line
    }
}

/// The refused lines of a chunk's answer (`bad_lines`, lines of the chunk) as lines of the file.
fn bad_file_lines(answer: &serde_json::Value, starts: &[(u64, u64)]) -> String {
    let Some(bad) = answer["bad_lines"].as_array() else {
        return String::new();
    };
    let mut out = String::new();
    for b in bad {
        let Some(line) = b["line"].as_u64() else {
            continue;
        };
        let file_line = starts
            .iter()
            .rev()
            .find(|(chunk_line, _)| *chunk_line <= line)
            .map_or(line, |(chunk_line, file_line)| {
                file_line + (line - chunk_line)
            });
        let problem = b["problem"].as_str().unwrap_or("refused");
        out.push_str(&format!("\n  file line {file_line}: {problem}"));
    }
    out
}

/// A count from an import report; the jurisdictions report nests them per level.
fn count(answer: &serde_json::Value, field: &str) -> u64 {
    match &answer[field] {
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        serde_json::Value::Object(levels) => levels.values().filter_map(|v| v.as_u64()).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_file_line_they_start_on_across_blank_lines_and_quoted_breaks() {
        let file = "code,name\r\n\r\nA,x\n\n\nB,\"two\nlines\"\nC,y\rD,z\n";
        let (header, rows) = rows_of(file).expect("rows");
        assert_eq!(header, "code,name\n");
        let lines: Vec<u64> = rows.iter().map(|r| r.file_line).collect();
        assert_eq!(lines, vec![3, 6, 8, 9]);
        assert_eq!(rows[1].text, "B,\"two\nlines\"\n");
    }

    #[test]
    fn refused_chunk_lines_are_named_by_their_file_line() {
        // Chunk rows start at chunk lines 2, 3 (two lines long) and 5; in the file at 10, 14, 17.
        let starts = [(2, 10), (3, 14), (5, 17)];
        let answer = serde_json::json!({"bad_lines": [
            {"line": 2, "problem": "first"}, {"line": 4, "problem": "inside"}, {"line": 5, "problem": "last"}
        ]});
        assert_eq!(
            bad_file_lines(&answer, &starts),
            "\n  file line 10: first\n  file line 15: inside\n  file line 17: last"
        );
        assert_eq!(bad_file_lines(&serde_json::json!({}), &starts), "");
    }

    #[test]
    fn an_empty_file_is_refused_and_a_header_alone_has_no_rows() {
        assert!(rows_of("").is_err());
        assert!(rows_of("\n\n").is_err());
        let (header, rows) = rows_of("code,name\n").expect("a header");
        assert_eq!(header, "code,name\n");
        assert!(rows.is_empty());
    }
}
