//! Standard Webhooks signatures (https://www.standardwebhooks.com/): the signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`, the signature HMAC-SHA256 of it under the
//! endpoint's key, sent as `webhook-signature: v1,{base64}`. The key's forms are decided in
//! `dockhand_core::config::SigningKey`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use dockhand_core::config::SigningKey;

/// The `webhook-signature` value for one attempt.
pub fn signature(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts a key of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_spec_example() {
        // The reference libraries' test vector: secret, id, timestamp and payload from the
        // Standard Webhooks repository's tests, and the signature they expect.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
