//! `repo_url::chart_key`: never panics; a key is its own key (with the same chart name); no error
//! or key repeats a password given in the URL's userinfo. Input: URL, NUL, chart name (no NUL:
//! no name).
#![no_main]

use dockhand_core::repo_url::{chart_key, sanitize};
use dockhand_fuzz::{two_strings, with_userinfo, URL_PASSWORD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (url, name) = two_strings(data);
    if let Ok(key) = chart_key(&url, name.as_deref()) {
        assert_eq!(
            chart_key(&key, name.as_deref()).as_ref(),
            Ok(&key),
            "key of {url:?} with name {name:?}"
        );
    }
    // Userinfo variant: selector byte, user, NUL, rest of the URL, NUL, chart name.
    if let Some((&selector, rest)) = data.split_first() {
        let (user, rest) = two_strings(rest);
        let (rest, name) = two_strings(rest.as_deref().unwrap_or("").as_bytes());
        if let Some(url) = with_userinfo(selector, &user, &rest, false) {
            // A name that holds the password (also once sanitized) is echoed as a name.
            if name
                .as_deref()
                .is_some_and(|n| n.contains(URL_PASSWORD) || sanitize(n).contains(URL_PASSWORD))
            {
                return;
            }
            let shown = match chart_key(&url, name.as_deref()) {
                Ok(key) => key,
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(URL_PASSWORD), "{url:?} gave {shown:?}");
        }
    }
});
