//! `matching::paths::PathSelector`: `parse` and `matches` never panic. Input: selector, NUL,
//! path (no NUL: the selector's own text is the path).
#![no_main]

use dockhand_core::matching::paths::PathSelector;
use dockhand_fuzz::two_strings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (selector, path) = two_strings(data);
    if let Ok(s) = PathSelector::parse(&selector) {
        let _ = s.matches(path.as_deref().unwrap_or(&selector));
        let _ = s.to_string();
    }
});
