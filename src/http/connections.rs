//! The open connections of one listener: what each is doing (idle, receiving a request head,
//! serving a request), how many each client holds, and who gives way when a new connection does
//! not fit.
//!
//! Admission of a connection from client C (one IPv4 address, or one IPv6 /64: a single host
//! is handed a whole /64, so counting addresses would not bound it):
//! 1. C already holds `max_per_client`: C's own oldest idle connection is closed to make room,
//!    else the one of C's that has been sending its request head longest; if every one of C's
//!    connections is serving a request, the new connection is closed.
//! 2. The listener holds `max_connections`: the connection idle longest, whoever holds it, is
//!    closed; if none is idle, the new connection is closed.
//! 3. Only the reserve (the last eighth of `max_connections`) is free: it is kept for clients
//!    holding no connection, so C makes room among its own as in 1.
//!
//! A connection serving a request is never closed to make room. Counts change under one lock,
//! so they never exceed either bound; a closed connection leaves the table at once (its task
//! finishes in the background).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No request in progress: a new connection that has sent nothing, or a keep-alive
    /// connection between requests. Bounded by the idle timeout.
    Idle,
    /// Bytes of a request head have arrived, the head is not complete. Bounded by the
    /// header-read timeout, counted from the first byte.
    Head,
    /// A request is being served (its body read, the answer computed and written).
    Busy,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Busy,
        }
    }
}

/// The state one connection shares between its I/O (which sees bytes arrive), its service
/// (which sees requests start and end) and the table (which may ask it to close).
#[derive(Debug)]
pub struct Activity {
    phase: AtomicU8,
    /// When the current phase began, in milliseconds since `epoch`.
    since_ms: AtomicU64,
    epoch: Instant,
    shed: CancellationToken,
}

impl Activity {
    fn new(epoch: Instant) -> Activity {
        let a = Activity {
            phase: AtomicU8::new(Phase::Idle as u8),
            since_ms: AtomicU64::new(0),
            epoch,
            shed: CancellationToken::new(),
        };
        a.since_ms.store(a.now_ms(), Ordering::Relaxed);
        a
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// When the current phase began.
    pub fn since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.since_ms.load(Ordering::Relaxed))
    }

    fn set(&self, phase: Phase) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Bytes arrived: an idle connection starts receiving a request head (a busy one stays
    /// busy: those are body bytes or a pipelined request).
    pub fn bytes_arrived(&self) {
        if self.phase() == Phase::Idle {
            self.since_ms.store(self.now_ms(), Ordering::Relaxed);
            let _ = self.phase.compare_exchange(
                Phase::Idle as u8,
                Phase::Head as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// A request head is complete and handed to the service.
    pub fn request_started(&self) {
        self.set(Phase::Busy);
    }

    /// The service answered; the connection waits for the next request. Also used after a TLS
    /// handshake, whose bytes are no request head.
    pub fn now_idle(&self) {
        self.set(Phase::Idle);
    }

    /// Completes when the table asks this connection to close to make room for another.
    pub async fn shed(&self) {
        self.shed.cancelled().await
    }
}

/// Which client a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

impl Client {
    pub fn of(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(v4) => Client(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Client(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

/// Bounds of one listener's table.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_connections: usize,
    pub max_per_client: usize,
}

impl Bounds {
    /// Slots kept for clients holding no connection: an eighth, at least one when there are
    /// two slots or more.
    pub fn reserve(&self) -> usize {
        if self.max_connections < 2 {
            0
        } else {
            (self.max_connections / 8).max(1)
        }
    }
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Table {
    bounds: Bounds,
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
    per_client: HashMap<Client, usize>,
}

#[derive(Debug)]
struct Entry {
    client: Client,
    activity: Arc<Activity>,
}

/// An admitted connection's place in the table; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    table: Arc<Table>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.inner.lock().remove(self.id);
    }
}

impl Inner {
    fn remove(&mut self, id: u64) {
        if let Some(e) = self.open.remove(&id) {
            if let Some(n) = self.per_client.get_mut(&e.client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_client.remove(&e.client);
                }
            }
        }
    }

    /// The connection to close for room: idle longest first, then (if `heads`) the one
    /// sending its head longest; never a busy one.
    fn victim(&self, only: Option<Client>, heads: bool) -> Option<u64> {
        let mut best: Option<(u8, Instant, u64)> = None;
        for (id, e) in &self.open {
            if only.is_some_and(|c| c != e.client) {
                continue;
            }
            let rank = match e.activity.phase() {
                Phase::Idle => 0,
                Phase::Head if heads => 1,
                _ => continue,
            };
            let key = (rank, e.activity.since(), *id);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.map(|(_, _, id)| id)
    }

    fn shed(&mut self, id: u64) {
        if let Some(e) = self.open.get(&id) {
            e.activity.shed.cancel();
        }
        self.remove(id);
    }
}

impl Table {
    pub fn new(bounds: Bounds) -> Arc<Table> {
        Arc::new(Table {
            bounds: Bounds {
                max_connections: bounds.max_connections.max(1),
                max_per_client: bounds.max_per_client.max(1),
            },
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Admits a connection from `ip`, closing another to make room if the rules in the module
    /// doc say so; `None` means the new connection must be closed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let client = Client::of(ip);
        let max = self.bounds.max_connections;
        let mut inner = self.inner.lock();
        let held = inner.per_client.get(&client).copied().unwrap_or(0);
        let total = inner.open.len();
        let victim = if held >= self.bounds.max_per_client
            || (held > 0 && total >= max - self.bounds.reserve())
        {
            Some(inner.victim(Some(client), true)?)
        } else if total >= max {
            Some(inner.victim(None, false)?)
        } else {
            None
        };
        if let Some(id) = victim {
            inner.shed(id);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let activity = Arc::new(Activity::new(self.epoch));
        inner.open.insert(
            id,
            Entry {
                client,
                activity: activity.clone(),
            },
        );
        *inner.per_client.entry(client).or_insert(0) += 1;
        Some(Slot {
            table: self.clone(),
            id,
            activity,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table(max: usize, per_client: usize) -> Arc<Table> {
        Table::new(Bounds {
            max_connections: max,
            max_per_client: per_client,
        })
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            Client::of(ip("2001:db8:1:2:aaaa::1")),
            Client::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            Client::of(ip("2001:db8:1:2::1")),
            Client::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Client::of(ip("::ffff:10.0.0.1")),
            Client::of(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_client_at_its_cap_gives_way_among_its_own_and_never_a_busy_one() {
        let t = table(100, 2);
        let a = t.admit(ip("10.0.0.1")).unwrap();
        let b = t.admit(ip("10.0.0.1")).unwrap();
        a.activity.request_started();
        // b is idle: it gives way.
        let c = t.admit(ip("10.0.0.1")).unwrap();
        assert!(b.activity.shed.is_cancelled());
        assert!(!a.activity.shed.is_cancelled());
        assert_eq!(t.len(), 2);
        // a and c busy: nothing gives way, the new one is refused.
        c.activity.request_started();
        assert!(t.admit(ip("10.0.0.1")).is_none());
        // Another client is unaffected.
        assert!(t.admit(ip("10.0.0.2")).is_some());
    }

    #[test]
    fn heads_give_way_within_a_client_idle_ones_first() {
        let t = table(100, 2);
        let a = t.admit(ip("10.0.0.1")).unwrap();
        let b = t.admit(ip("10.0.0.1")).unwrap();
        a.activity.bytes_arrived();
        let _c = t.admit(ip("10.0.0.1")).unwrap();
        assert!(b.activity.shed.is_cancelled(), "idle before head");
        assert!(!a.activity.shed.is_cancelled());
        let _d = t.admit(ip("10.0.0.1")).unwrap();
        assert!(_c.activity.shed.is_cancelled(), "idle before head");
        assert!(!a.activity.shed.is_cancelled());
        // Only heads left: the one sending longest gives way.
        _d.activity.bytes_arrived();
        let _e = t.admit(ip("10.0.0.1")).unwrap();
        assert!(a.activity.shed.is_cancelled());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_full_table_closes_the_connection_idle_longest() {
        let t = table(4, 4);
        let first = t.admit(ip("10.0.0.1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = t.admit(ip("10.0.0.2")).unwrap();
        let third = t.admit(ip("10.0.0.3")).unwrap();
        // The reserve (one slot): only for a client holding none.
        let fourth = t.admit(ip("10.0.0.4")).unwrap();
        assert_eq!(t.len(), 4);
        let _fifth = t.admit(ip("10.0.0.5")).unwrap();
        assert!(first.activity.shed.is_cancelled());
        assert!(!second.activity.shed.is_cancelled());
        assert_eq!(t.len(), 4);
        // Everyone busy: a newcomer is refused.
        for s in [&second, &third, &fourth, &_fifth] {
            s.activity.request_started();
        }
        assert!(t.admit(ip("10.0.0.6")).is_none());
    }

    #[test]
    fn the_reserve_is_for_clients_holding_none() {
        let t = table(8, 8);
        let held: Vec<Slot> = (0..7).filter_map(|_| t.admit(ip("10.0.0.1"))).collect();
        for s in &held {
            s.activity.request_started();
        }
        assert_eq!(held.len(), 7);
        // 10.0.0.1 holds some and only the reserve is left: refused (all its own are busy).
        assert!(t.admit(ip("10.0.0.1")).is_none());
        let other = t.admit(ip("10.0.0.2"));
        assert!(other.is_some());
        drop(held);
        assert_eq!(t.len(), 1);
    }
}
