//! [`redact`]: text that a client chose (a request path or query, a user name) made fit for a
//! log: every run of digits shaped like a resident ID number or a mobile number is masked the way
//! [`IdNumber::masked`](crate::IdNumber::masked) and [`Phone::masked`](crate::Phone::masked) mask
//! them, whether or not its check digit is right (a mistyped number is still someone's).
//!
//! The shapes, each a maximal run of ASCII digits (a run is never cut, so the 20-digit house
//! codes and the 6-, 9-, 12- and 15-digit jurisdiction codes stay readable):
//! - 17 digits followed by a digit or `X`: an ID number, shown as `440304********123X`;
//! - 11 digits starting `13`–`19`: a mobile number, shown as `139****0002`;
//! - 13 digits starting `86` and then `13`–`19`: a mobile number with its country code.

use std::borrow::Cow;

/// `text` with every ID-number- or mobile-number-shaped run of digits masked (borrowed when
/// there is none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut end = i;
        if end - start == 17 && matches!(bytes.get(end), Some(b'X' | b'x')) {
            end += 1;
            i = end;
        }
        let run = &text[start..end];
        let masked = match run.len() {
            18 => Some(format!("{}********{}", &run[..6], &run[14..])),
            11 if is_mobile(run) => Some(format!("{}****{}", &run[..3], &run[7..])),
            13 if run.starts_with("86") && is_mobile(&run[2..]) => {
                Some(format!("86{}****{}", &run[2..5], &run[9..]))
            }
            _ => None,
        };
        if let Some(masked) = masked {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push_str(&masked);
            copied = end;
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

fn is_mobile(digits: &str) -> bool {
    matches!(digits.as_bytes(), [b'1', b'3'..=b'9', ..])
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn id_and_mobile_numbers_are_masked_wherever_they_stand() {
        assert_eq!(
            redact("/api/v1/grid/persons/11010519491231002X"),
            "/api/v1/grid/persons/110105********002X"
        );
        assert_eq!(
            redact("?id_number=110105194912310021&phone=13800138000"),
            "?id_number=110105********0021&phone=138****8000"
        );
        assert_eq!(redact("8613800138000"), "86138****8000");
        assert_eq!(redact("%2B8613800138000"), "%2B86138****8000");
        assert_eq!(redact("user 13800138000"), "user 138****8000");
        // A wrong check digit is masked too: it is still somebody's number, mistyped.
        assert_eq!(redact("110105194912310029"), "110105********0029");
    }

    #[test]
    fn codes_and_other_numbers_stay_readable() {
        for text in [
            "/api/v1/district/stats?under=440304",
            "/api/v1/grid/houses/44030400100100100019/timeline",
            "/api/v1/street/stats?under=440304001001001",
            "/api/v1/grid/persons/01a2427d-6fa5-73f1-a4c8-2651cec5de0a",
            "12345678901",
            "1380013800",
            "grid-worker",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
