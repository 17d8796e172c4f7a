//! How many cases a fuzz test (a property test over outside input: arbitrary bytes, or valid
//! values mutated) runs: a bounded number by default, so that the suite stays fast, and as many
//! as `ZW_FUZZ_CASES` says for a longer run:
//!
//! ```text
//! ZW_FUZZ_CASES=100000 cargo nextest run --workspace -E 'test(/fuzz/)'
//! ```
//!
//! Use it in a `proptest!` block as `#![proptest_config(zw_testkit::fuzz::config(256))]`, and
//! put `fuzz` in the name of the test or its module so that the filter above finds it.

use proptest::test_runner::Config;

/// The environment variable that sets the number of cases of every fuzz test.
pub const CASES_VAR: &str = "ZW_FUZZ_CASES";

/// `ZW_FUZZ_CASES` when it is set to a positive number, else `default`.
///
/// # Panics
/// When `ZW_FUZZ_CASES` is set but is not a positive number (a mistake in the command line,
/// which should not silently run the default).
pub fn cases(default: u32) -> u32 {
    match std::env::var(CASES_VAR) {
        Err(_) => default,
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{CASES_VAR}={text:?} is not a positive number of cases"),
        },
    }
}

/// The proptest configuration of a fuzz test: [`cases`] cases, and room for as many rejected
/// inputs (`prop_assume!`) as cases, so that a long run is not cut short by the fixed default
/// limit of rejections.
pub fn config(default_cases: u32) -> Config {
    let cases = cases(default_cases);
    Config {
        cases,
        max_global_rejects: cases.max(1024),
        ..Config::default()
    }
}
