//! Real components for the discovery tests: the CNCF Distribution registry (Debian's
//! `docker-registry`) with a push helper, `git http-backend` behind a small CGI server, and a
//! scriptable HTTP server for chart indexes and for registries that misbehave.
#![allow(dead_code)]

pub mod git;
pub mod postgres;
pub mod registry;
pub mod sink;
pub mod web;

/// Standard base64 with padding (Basic auth headers in the harness).
pub fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_known_values() {
    assert_eq!(
        base64(b"ado-user:test-ado-password"),
        "YWRvLXVzZXI6dGVzdC1hZG8tcGFzc3dvcmQ="
    );
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(base64(b"ab"), "YWI=");
}
