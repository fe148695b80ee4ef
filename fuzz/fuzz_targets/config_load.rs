//! `config::load_str`: any text (YAML manifests, or not) gives a config or a list of problems,
//! never a panic, and the problems render.
#![no_main]

use dockhand_core::config::load_str;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = load_str("fuzz.yaml", &text) {
        let _ = errors.to_string();
    }
});
