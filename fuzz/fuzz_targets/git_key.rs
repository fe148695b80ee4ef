//! `repo_url::git_key`: never panics; a key is its own key; no error or key repeats a password
//! given in the URL's userinfo.
#![no_main]

use dockhand_core::repo_url::git_key;
use dockhand_fuzz::{two_strings, with_userinfo, URL_PASSWORD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let url = String::from_utf8_lossy(data);
    if let Ok(key) = git_key(&url) {
        assert_eq!(git_key(&key).as_ref(), Ok(&key), "key of {url:?}");
    }
    if let Some((&selector, rest)) = data.split_first() {
        let (user, rest) = two_strings(rest);
        if let Some(url) = with_userinfo(selector, &user, rest.as_deref().unwrap_or(&user), true) {
            let shown = match git_key(&url) {
                Ok(key) => key,
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(URL_PASSWORD), "{url:?} gave {shown:?}");
        }
    }
});
