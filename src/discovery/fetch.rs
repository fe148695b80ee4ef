//! Reading HTTP bodies with a ceiling: a registry that answers a tag list of 100 MB, or a chart
//! index that never ends, is an error, not an out-of-memory.

use super::error::{strip_query, DiscoveryError};

/// Reads `resp`'s body, failing once it exceeds `max` bytes (declared or actual).
pub async fn body(
    url: &str,
    mut resp: reqwest::Response,
    max: usize,
    timeout_secs: u64,
) -> Result<Vec<u8>, DiscoveryError> {
    let too_large = || DiscoveryError::TooLarge {
        url: strip_query(url),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| DiscoveryError::from_reqwest(url, &e, timeout_secs))?
    {
        if buf.len() + chunk.len() > max {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// A `Link: <url>; rel="next"` target (RFC 8288, as the distribution spec paginates), resolved
/// against `base`.
pub fn next_link(resp: &reqwest::Response, base: &reqwest::Url) -> Option<reqwest::Url> {
    for value in resp.headers().get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in text.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let target = target.strip_prefix('<')?.strip_suffix('>')?;
            return base.join(target).ok();
        }
    }
    None
}
