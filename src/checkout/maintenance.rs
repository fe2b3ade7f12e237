//! The nightly maintenance window: venue-local hours (2–3 AM by default) during which the
//! venue's ticketing system refuses transactions. Computed from the event's time zone.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Window hours in venue-local time, `[start, end)`; `end <= start` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceHours {
    pub start: u32,
    pub end: u32,
}

impl Default for MaintenanceHours {
    fn default() -> Self {
        Self { start: 2, end: 3 }
    }
}

/// Where `now` stands relative to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceStatus {
    pub in_window: bool,
    /// When the current window ends (if in it).
    pub window_ends_at: Option<DateTime<Utc>>,
    /// The next window's start (after the current one, if in it).
    pub next_window_starts_at: DateTime<Utc>,
}

impl MaintenanceHours {
    pub fn status(&self, tz: Tz, now: DateTime<Utc>) -> MaintenanceStatus {
        let local_date = now.with_timezone(&tz).date_naive();
        // Windows starting yesterday, today and tomorrow cover every case incl. wrap-around.
        let windows = (-1..=2).filter_map(|day| {
            let date = local_date + Duration::days(day);
            let start = local(tz, date, self.start)?;
            let length_hours = if self.end > self.start {
                self.end - self.start
            } else {
                self.end + 24 - self.start
            };
            Some((start, start + Duration::hours(i64::from(length_hours))))
        });
        let mut current = None;
        let mut next = None;
        for (start, end) in windows {
            if start <= now && now < end {
                current = Some(end);
            } else if start > now && next.is_none() {
                next = Some(start);
            }
        }
        MaintenanceStatus {
            in_window: current.is_some(),
            window_ends_at: current,
            next_window_starts_at: next.unwrap_or(now + Duration::days(1)),
        }
    }
}

/// `hour:00` on `date` in `tz`, as UTC; on a DST gap the earliest valid instant after it.
fn local(tz: Tz, date: chrono::NaiveDate, hour: u32) -> Option<DateTime<Utc>> {
    let naive = date.and_time(NaiveTime::from_hms_opt(hour % 24, 0, 0)?);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn two_to_three_am_eastern_is_in_the_window() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let hours = MaintenanceHours::default();
        // 02:30 EST = 07:30 UTC in January.
        let s = hours.status(tz, at("2026-01-15T07:30:00Z"));
        assert!(s.in_window);
        assert_eq!(s.window_ends_at, Some(at("2026-01-15T08:00:00Z")));
        assert_eq!(s.next_window_starts_at, at("2026-01-16T07:00:00Z"));
        // 03:00 sharp is outside.
        let s = hours.status(tz, at("2026-01-15T08:00:00Z"));
        assert!(!s.in_window);
    }

    #[test]
    fn the_next_window_is_tonight_when_before_it() {
        let tz: Tz = "America/Los_Angeles".parse().unwrap();
        // 20:00 PDT on 2026-07-01 = 03:00 UTC on 07-02; next window 02:00 PDT = 09:00 UTC.
        let s = MaintenanceHours::default().status(tz, at("2026-07-02T03:00:00Z"));
        assert!(!s.in_window);
        assert_eq!(s.next_window_starts_at, at("2026-07-02T09:00:00Z"));
    }

    #[test]
    fn a_window_across_midnight_wraps() {
        let tz: Tz = "UTC".parse().unwrap();
        let hours = MaintenanceHours { start: 23, end: 2 };
        assert!(hours.status(tz, at("2026-03-01T00:30:00Z")).in_window);
        assert!(hours.status(tz, at("2026-03-01T23:30:00Z")).in_window);
        assert!(!hours.status(tz, at("2026-03-01T02:00:00Z")).in_window);
    }

    #[test]
    fn dst_gap_does_not_lose_the_window() {
        // 2026-03-08 02:00 does not exist in New York; the window starts at 03:00 EDT.
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = MaintenanceHours::default().status(tz, at("2026-03-08T05:00:00Z"));
        assert_eq!(s.next_window_starts_at, at("2026-03-08T07:00:00Z"));
    }
}
