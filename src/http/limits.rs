//! What one client can hold of the listener: connections are capped in all and per client address (a trusted
//! proxy's address is exempt: everyone comes through it), and the process's file-descriptor limit is raised to
//! what the system allows, so the caps, not the descriptor table, decide who is turned away.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Descriptors kept for the database, log and data files beside the connections.
const RESERVED_FDS: usize = 128;

pub struct Admission {
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_total: usize,
    max_per_address: usize,
    exempt: Vec<IpAddr>,
}

/// A connection let in; letting go of it frees its place.
pub struct Admitted {
    admission: Arc<Admission>,
    address: Option<IpAddr>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_address: usize, exempt: Vec<IpAddr>) -> Arc<Admission> {
        Arc::new(Admission {
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            exempt,
        })
    }

    /// A place for a new connection from `address`, or `None` when the server or that address is at its cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        if self.exempt.contains(&address) {
            return Some(Admitted { admission: self.clone(), address: None });
        }
        let Ok(mut per) = self.per_address.lock() else {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        };
        let held = per.entry(address).or_insert(0);
        if *held >= self.max_per_address {
            drop(per);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        *held += 1;
        Some(Admitted { admission: self.clone(), address: Some(address) })
    }

    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(address) = self.address
            && let Ok(mut per) = self.admission.per_address.lock()
            && let Some(held) = per.get_mut(&address)
        {
            *held -= 1;
            if *held == 0 {
                per.remove(&address);
            }
        }
        self.admission.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Raises the soft limit on open files to the hard limit and returns how many connections fit under it.
pub fn raise_fd_limit() -> Option<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a properly sized out-parameter for getrlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `raised` is a valid rlimit no higher than the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    Some(soft.saturating_sub(RESERVED_FDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_address_and_in_all_and_places_come_back() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let adm = Admission::new(5, 2, vec![proxy]);
        let a1 = adm.admit(a).unwrap();
        let _a2 = adm.admit(a).unwrap();
        assert!(adm.admit(a).is_none(), "a third from one address");
        let _b1 = adm.admit(b).unwrap();
        let _p1 = adm.admit(proxy).unwrap();
        let _p2 = adm.admit(proxy).unwrap();
        assert!(adm.admit(b).is_none(), "the server is full");
        drop(a1);
        assert_eq!(adm.open(), 4);
        assert!(adm.admit(a).is_some(), "a place came back");
    }
}
