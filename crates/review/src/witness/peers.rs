//! Admission of connections: at most [`Limits::max_connections`] open at once and at most
//! [`Limits::max_per_peer`] from one IP address, so that one client (or one slow-loris
//! attacker) cannot take every slot. Pure bookkeeping; [`super::server`] asks
//! [`Admission::admit`] for each accepted connection and keeps the [`Slot`] while it is open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The witness server's limits (`witness serve` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections from one IP address at once; more are closed as soon as accepted.
    pub max_per_peer: usize,
    /// Time a client has to send a request head, and that an idle keep-alive connection is
    /// kept open.
    pub header_timeout: Duration,
    /// Time a client has to send a request body once its head arrived.
    pub body_timeout: Duration,
    /// Requests on one keep-alive connection before the server closes it.
    pub max_requests_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_per_peer: 64,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_requests_per_connection: 1_000,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its address already has [`Limits::max_per_peer`] connections open.
    PeerFull,
}

/// Open connections, in total and per address.
#[derive(Clone, Debug)]
pub struct Admission {
    max_per_peer: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// An admitted connection; frees its place when dropped.
#[derive(Debug)]
pub struct Slot {
    peer: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Admission {
    /// No connection open yet.
    pub fn new(limits: &Limits) -> Self {
        Admission { max_per_peer: limits.max_per_peer.max(1), open: Arc::default() }
    }

    /// A slot for a connection from `peer`, unless that address is at its cap.
    pub fn admit(&self, peer: IpAddr) -> Result<Slot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(peer).or_insert(0);
        if *n >= self.max_per_peer {
            return Err(Refused::PeerFull);
        }
        *n += 1;
        Ok(Slot { peer, open: Arc::clone(&self.open) })
    }

    /// Connections open from `peer`.
    pub fn open_from(&self, peer: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&peer).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_at_most_its_cap_and_others_are_unaffected() {
        let a = Admission::new(&Limits { max_per_peer: 2, ..Limits::default() });
        let (x, y): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "::1".parse().unwrap());
        let s1 = a.admit(x).unwrap();
        let s2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), Refused::PeerFull);
        let _t = a.admit(y).unwrap();
        drop(s1);
        assert_eq!(a.open_from(x), 1);
        let _s3 = a.admit(x).unwrap();
        drop(s2);
        drop(_s3);
        assert_eq!(a.open_from(x), 0);
        assert!(
            !a.open.lock().unwrap().contains_key(&x),
            "an address without connections is forgotten"
        );
    }
}
