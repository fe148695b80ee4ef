//! `matching::semver`: `Constraint::parse`, `parse_version` (strict and not) and `matches` never
//! panic, and a parsed version reads back from its own text. Input: constraint, NUL, version.
#![no_main]

use dockhand_core::matching::semver::{parse_version, Constraint};
use dockhand_fuzz::two_strings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (constraint, version) = two_strings(data);
    let constraint = Constraint::parse(&constraint);
    let version = version.as_deref().unwrap_or("1.2.3");
    for strict in [true, false] {
        let Some(v) = parse_version(version, strict) else {
            continue;
        };
        assert_eq!(
            parse_version(&v.to_string(), true).as_ref(),
            Some(&v),
            "{version:?} read as {v}"
        );
        if let Ok(c) = &constraint {
            let _ = c.matches(&v);
            let _ = c.mentions_prerelease();
        }
    }
});
