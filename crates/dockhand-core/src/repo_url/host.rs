//! Host and port rules shared by every kind: `host[:port]` split and checked (IPv6 in
//! brackets), default ports dropped from keys, and loopback hosts.

use std::net::IpAddr;

/// Splits an ASCII-lower-case `host[:port]` and checks both. `allow_underscore` admits `_` in
/// host labels (some internal git and chart servers have them; Docker's grammar does not).
pub(super) fn split_host_port(
    host_port: &str,
    allow_underscore: bool,
) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port
            .find(']')
            .ok_or_else(|| format!("host {host_port:?} opens `[` without closing it"))?;
        let inner = &host_port[1..close];
        if !inner.contains(':')
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(format!(
                "host {host_port:?} is not an IPv6 address in brackets"
            ));
        }
        let after = &host_port[close + 1..];
        match after.strip_prefix(':') {
            Some(port) => (&host_port[..=close], Some(port)),
            None if after.is_empty() => (host_port, None),
            None => return Err(format!("host {host_port:?} has text after `]`")),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if !host.starts_with('[') {
        check_host_name(host, allow_underscore)?;
    }
    let port =
        match port {
            None => None,
            // The port is not echoed: in `https://user:pa/ss@host` it is a piece of a password.
            Some(p) => Some(parse_port(p).ok_or_else(|| {
                format!("the port of host {host:?} is not a number from 1 to 65535")
            })?),
        };
    Ok((host, port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

/// DNS-style labels: `[a-z0-9]([a-z0-9-]*[a-z0-9])?` joined by `.`.
fn check_host_name(host: &str, allow_underscore: bool) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        let inner =
            |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || (allow_underscore && c == b'_');
        !b.is_empty()
            && b.iter().all(|&c| inner(c) || c == b'-')
            && b.first().is_some_and(|&c| inner(c))
            && b.last().is_some_and(|&c| inner(c))
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is not a valid host name (letters, digits, `-` and `.`)"
        ))
    }
}

/// `host[:port]` with the given default ports dropped; IPv6 hosts keep their brackets.
pub(super) fn host_key(host: &str, port: Option<u16>, defaults: &[u16]) -> String {
    match port {
        Some(p) if !defaults.contains(&p) => format!("{host}:{p}"),
        _ => host.to_string(),
    }
}

/// `host` of `host:port`, `[::1]` of `[::1]:5000`. No checks: for hosts already in key form.
pub fn host_without_port(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port.find(']').map_or(host_port, |i| &host_port[..=i]);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// `localhost`, `127.0.0.0/8`, `[::1]`, with or without a port: registries Docker reaches over
/// plain HTTP.
pub fn is_loopback(host_port: &str) -> bool {
    let host = host_without_port(host_port);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
