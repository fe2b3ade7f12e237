//! When a scheduled job is due: a six-field cron expression (`sec min hour day month weekday`)
//! read in a configured time zone, and the catch-up rule.
//!
//! The rule, applied on every scheduler tick: the only time ever run is the *latest* scheduled
//! time at or before now. After an outage that missed several, that one runs once; the older
//! ones are skipped. A deployment that has never run the job does not reach back to a time
//! before the replica started (a first start at 10:00 does not run 09:00 at once); one that has
//! run it before does (that is the missed run to catch up).

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// A parsed cron schedule in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    schedule: cron::Schedule,
    zone: Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("a cron expression with six fields (sec min hour day month weekday): {0}")]
    Fields(String),
    #[error("{0}")]
    Cron(String),
    #[error("the expression never fires")]
    Never,
}

impl CronSchedule {
    pub fn parse(expression: &str, zone: Tz) -> Result<Self, ScheduleError> {
        let expression = expression.trim();
        if expression.split_whitespace().count() != 6 {
            return Err(ScheduleError::Fields(expression.to_owned()));
        }
        let schedule =
            cron::Schedule::from_str(expression).map_err(|e| ScheduleError::Cron(e.to_string()))?;
        let parsed = Self {
            expression: expression.to_owned(),
            schedule,
            zone,
        };
        if parsed.next_after(Utc::now()).is_none() {
            return Err(ScheduleError::Never);
        }
        Ok(parsed)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The latest scheduled time at or before `now`.
    pub fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // `next_back` gives the occurrence strictly before its start: start just after `now`.
        let start = (now + TimeDelta::milliseconds(1)).with_timezone(&self.zone);
        self.schedule
            .after(&start)
            .next_back()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first scheduled time strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&now.with_timezone(&self.zone))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The scheduled time to run now under the catch-up rule, if any: the latest one at or
    /// before `now`, unless `last_run` already covers it, or it predates `booted_at` and the
    /// job has never run.
    pub fn due(&self, now: DateTime<Utc>, due: DueContext) -> Option<DateTime<Utc>> {
        let latest = self.latest_at_or_before(now)?;
        match due.last_scheduled {
            Some(last) if last >= latest => None,
            Some(_) => Some(latest),
            None if latest >= due.booted_at => Some(latest),
            None => None,
        }
    }
}

/// What [`CronSchedule::due`] needs to know besides the time.
#[derive(Debug, Clone, Copy)]
pub struct DueContext {
    /// The latest scheduled time the job has a run record for (any status).
    pub last_scheduled: Option<DateTime<Utc>>,
    /// When this replica started.
    pub booted_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn latest_and_next_follow_the_time_zone() {
        let nine_in_ny = CronSchedule::parse("0 0 9 * * *", chrono_tz::America::New_York).unwrap();
        // 09:00 in New York is 13:00 UTC in summer.
        let now = t("2026-07-02T14:00:00Z");
        assert_eq!(
            nine_in_ny.latest_at_or_before(now),
            Some(t("2026-07-02T13:00:00Z"))
        );
        assert_eq!(nine_in_ny.next_after(now), Some(t("2026-07-03T13:00:00Z")));
        // Exactly at the scheduled time counts as due.
        assert_eq!(
            nine_in_ny.latest_at_or_before(t("2026-07-02T13:00:00Z")),
            Some(t("2026-07-02T13:00:00Z"))
        );
    }

    #[test]
    fn catch_up_runs_only_the_latest_missed_time_once() {
        let hourly = CronSchedule::parse("0 0 * * * *", Tz::UTC).unwrap();
        let booted_at = t("2026-07-02T10:30:00Z");
        let now = t("2026-07-02T10:30:00Z");
        // Never ran: 10:00 is before this replica started, so nothing yet.
        let fresh = DueContext {
            last_scheduled: None,
            booted_at,
        };
        assert_eq!(hourly.due(now, fresh), None);
        assert_eq!(
            hourly.due(t("2026-07-02T11:00:00Z"), fresh),
            Some(t("2026-07-02T11:00:00Z"))
        );
        // Ran at 06:00, everything was down until 10:30: only 10:00 is run.
        let behind = DueContext {
            last_scheduled: Some(t("2026-07-02T06:00:00Z")),
            booted_at,
        };
        assert_eq!(hourly.due(now, behind), Some(t("2026-07-02T10:00:00Z")));
        // Once 10:00 is recorded, nothing until 11:00.
        let caught_up = DueContext {
            last_scheduled: Some(t("2026-07-02T10:00:00Z")),
            booted_at,
        };
        assert_eq!(hourly.due(now, caught_up), None);
    }

    #[test]
    fn bad_expressions_are_refused() {
        assert!(CronSchedule::parse("0 9 * * *", Tz::UTC).is_err());
        assert!(CronSchedule::parse("0 0 25 * * *", Tz::UTC).is_err());
    }
}
