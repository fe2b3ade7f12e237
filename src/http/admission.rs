//! Partner-side admission: per-user and per-client-IP request rates, so one user (or one
//! address) cannot eat the deployment's upstream quota. Each key gets a GCRA bucket (a rate
//! and a burst); a request over it is refused with `rate_limited` (429), `Retry-After` and a
//! `RateLimit` header, before any work is done. Buckets are per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate and how many requests may come at once.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// Why a request was refused: how long until it would be admitted, and the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    pub retry_after: Duration,
    pub limit: u32,
}

/// Keyed GCRA buckets ("theoretical arrival time" per key).
pub struct Admission {
    user: Rate,
    ip: Rate,
    buckets: Mutex<HashMap<String, Instant>>,
}

/// Buckets idle this long are forgotten, so the map stays as small as the active users.
const FORGET_AFTER: Duration = Duration::from_secs(600);

impl Admission {
    pub fn new(user: Rate, ip: Rate) -> Self {
        Self {
            user,
            ip,
            buckets: Mutex::default(),
        }
    }

    /// Admit one request of `user` from `ip`, or say how long to wait.
    pub fn admit(&self, user: &str, ip: &str) -> Result<(), Refused> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, tat| now.saturating_duration_since(*tat) < FORGET_AFTER);
        }
        let user_key = format!("u:{user}");
        let ip_key = format!("i:{ip}");
        // Check both before charging either, so a refusal costs the caller nothing.
        let user_tat = check(&buckets, &user_key, self.user, now)?;
        let ip_tat = check(&buckets, &ip_key, self.ip, now)?;
        buckets.insert(user_key, user_tat);
        buckets.insert(ip_key, ip_tat);
        Ok(())
    }
}

/// The new theoretical arrival time if a request is admitted now.
fn check(
    buckets: &HashMap<String, Instant>,
    key: &str,
    rate: Rate,
    now: Instant,
) -> Result<Instant, Refused> {
    let interval = Duration::from_secs_f64(1.0 / rate.per_second.max(0.001));
    let tolerance = interval * rate.burst.saturating_sub(1);
    let tat = buckets.get(key).copied().unwrap_or(now).max(now);
    let allowed_at = tat.checked_sub(tolerance).unwrap_or(now);
    if allowed_at > now {
        return Err(Refused {
            retry_after: allowed_at - now,
            limit: rate.burst,
        });
    }
    Ok(tat + interval)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(a.admit("alice", "1.2.3.4").is_ok());
        }
        let refused = a.admit("alice", "1.2.3.4").unwrap_err();
        assert!(
            refused.retry_after > Duration::from_millis(900),
            "{refused:?}"
        );
        // Another user is not affected.
        assert!(a.admit("bob", "1.2.3.4").is_ok());
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
        assert!(a.admit("u1", "9.9.9.9").is_ok());
        assert!(a.admit("u2", "9.9.9.9").is_ok());
        assert!(a.admit("u3", "9.9.9.9").is_err());
        assert!(a.admit("u3", "8.8.8.8").is_ok());
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
        assert!(a.admit("u", "1.1.1.1").is_ok());
        // The IP bucket refuses; the other user's bucket must not have been charged.
        assert!(a.admit("v", "1.1.1.1").is_err());
        assert!(a.admit("v", "2.2.2.2").is_ok());
    }
}
