//! Partner-side admission: per-user and per-client-IP request rates, so one user (or one
//! address) cannot eat the deployment's upstream quota. Each key gets a `governor` GCRA cell
//! (a rate and a burst); a request over it is refused with `rate_limited` (429), `Retry-After`
//! and a `RateLimit` header, before any work is done. Limits are per replica.
//!
//! Memory: a key's state is kept while it differs from a fresh one (at most a burst's worth
//! of time after its last request); idle keys are swept every [`SWEEP_EVERY`] admissions, so
//! the maps stay as small as the users and addresses active in the last few seconds.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// A rate and how many requests may come at once.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(0.001));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        // A zero period is impossible: the rate is capped above by configuration checks.
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

/// Why a request was refused: how long until it would be admitted, and the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    pub retry_after: Duration,
    pub limit: u32,
}

/// Admissions between two sweeps of idle keys.
const SWEEP_EVERY: u64 = 4096;

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Keyed limiters for users and for client addresses, on clock `C` (tests drive a fake one).
pub struct Admission<C: Clock = DefaultClock> {
    users: Keyed<String, C>,
    /// By address, not its text: no formatting, copy or string hash per request.
    addresses: Keyed<IpAddr, C>,
    user_burst: u32,
    ip_burst: u32,
    clock: C,
    admitted: AtomicU64,
}

impl Admission {
    pub fn new(user: Rate, ip: Rate) -> Self {
        Self::with_clock(user, ip, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Admission<C> {
    fn with_clock(user: Rate, ip: Rate, clock: C) -> Self {
        Self {
            users: RateLimiter::dashmap_with_clock(user.quota(), clock.clone()),
            addresses: RateLimiter::dashmap_with_clock(ip.quota(), clock.clone()),
            user_burst: user.burst,
            ip_burst: ip.burst,
            clock,
            admitted: AtomicU64::new(0),
        }
    }

    /// Admit one request of `user` from `ip`, or say how long to wait. The address is checked
    /// first: a request refused for its address costs its user nothing (a user refused for
    /// its own rate has spent one of its address's cells, which are the larger budget).
    pub fn admit(&self, user: &str, ip: IpAddr) -> Result<(), Refused> {
        self.admit_address(ip)?;
        self.admit_user(user)
    }

    /// The address's half of [`Self::admit`], for a request whose user is not known yet (the
    /// payment page, before its link is looked up: every look-up reads the database).
    pub fn admit_address(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.admitted.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        self.addresses.check_key(&ip).map_err(|not_until| Refused {
            retry_after: not_until.wait_time_from(self.clock.now()),
            limit: self.ip_burst,
        })
    }

    /// The user's half of [`Self::admit`], for a request whose address was admitted already.
    pub fn admit_user(&self, user: &str) -> Result<(), Refused> {
        self.users
            .check_key(&user.to_owned())
            .map_err(|not_until| Refused {
                retry_after: not_until.wait_time_from(self.clock.now()),
                limit: self.user_burst,
            })
    }

    /// Forget keys that are back to a fresh state.
    fn sweep(&self) {
        self.users.retain_recent();
        self.users.shrink_to_fit();
        self.addresses.retain_recent();
        self.addresses.shrink_to_fit();
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.users.len() + self.addresses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    fn admission() -> Admission {
        Admission::new(
            Rate {
                per_second: 1.0,
                burst: 3,
            },
            Rate {
                per_second: 100.0,
                burst: 100,
            },
        )
    }

    #[test]
    fn a_burst_is_admitted_then_the_user_waits() {
        let a = admission();
        for _ in 0..3 {
            assert!(a.admit("alice", ip("1.2.3.4")).is_ok());
        }
        let refused = a.admit("alice", ip("1.2.3.4")).unwrap_err();
        assert!(
            refused.retry_after > Duration::from_millis(900),
            "{refused:?}"
        );
        // Another user is not affected.
        assert!(a.admit("bob", ip("1.2.3.4")).is_ok());
    }

    #[test]
    fn one_address_is_limited_across_users() {
        let a = Admission::new(
            Rate {
                per_second: 100.0,
                burst: 100,
            },
            Rate {
                per_second: 1.0,
                burst: 2,
            },
        );
        assert!(a.admit("u1", ip("9.9.9.9")).is_ok());
        assert!(a.admit("u2", ip("9.9.9.9")).is_ok());
        assert!(a.admit("u3", ip("9.9.9.9")).is_err());
        assert!(a.admit("u3", ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn a_refusal_charges_nothing() {
        let a = Admission::new(
            Rate {
                per_second: 1.0,
                burst: 1,
            },
            Rate {
                per_second: 1.0,
                burst: 1,
            },
        );
        assert!(a.admit("u", ip("1.1.1.1")).is_ok());
        // The IP bucket refuses; the other user's bucket must not have been charged.
        assert!(a.admit("v", ip("1.1.1.1")).is_err());
        assert!(a.admit("v", ip("2.2.2.2")).is_ok());
    }

    #[test]
    fn idle_keys_are_swept_so_memory_follows_the_active_keys() {
        let clock = governor::clock::FakeRelativeClock::default();
        let a = Admission::with_clock(
            Rate {
                per_second: 1000.0,
                burst: 1,
            },
            Rate {
                per_second: 1000.0,
                burst: 1,
            },
            clock.clone(),
        );
        for i in 0..SWEEP_EVERY - 1 {
            let _ = a.admit(
                &format!("user-{i}"),
                ip(&format!("10.0.{}.{}", i / 256, i % 256)),
            );
        }
        assert!(a.keys() > 1000, "{} keys before the sweep", a.keys());
        // A burst of one at 1000/s is fresh again after a millisecond.
        clock.advance(Duration::from_millis(5));
        let _ = a.admit("last", ip("10.9.9.9"));
        assert!(a.keys() <= 2, "{} keys after the sweep", a.keys());
    }
}
