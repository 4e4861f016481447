//! Business days: the clock of release maintenance. An image update is due three business
//! days after the release; weekends and configured holidays do not count. Deadlines are the
//! end of the due day in UTC, the time zone every date in the portal is kept in.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::domain::SlaStatus;

/// Business days between a release and its image update.
pub const MAINTENANCE_BUSINESS_DAYS: u32 = 3;

/// The days that do not count, besides weekends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays(BTreeSet<NaiveDate>);

impl Holidays {
    pub fn new(days: impl IntoIterator<Item = NaiveDate>) -> Self {
        Holidays(days.into_iter().collect())
    }

    /// Monday to Friday and not a holiday.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.0.contains(&day)
    }

    /// The `n`th business day after `start` (`start` itself never counts).
    pub fn add_business_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap_or(day);
            if self.is_business_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// Business time from `now` to the end of `due_on`: only business days count, a part
    /// of one counts in part. Negative once the deadline has passed (by wall-clock time).
    pub fn business_time_left(&self, now: DateTime<Utc>, due_on: NaiveDate) -> Duration {
        let deadline = end_of(due_on);
        if now >= deadline {
            return -(now - deadline);
        }
        let mut left = Duration::zero();
        let mut day = now.date_naive();
        while day <= due_on {
            if self.is_business_day(day) {
                let start = start_of(day).max(now);
                left += end_of(day) - start;
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        left
    }

    /// Where a maintenance run due on `due_on` stands at `now`; `completed_at` is when
    /// the image went out, if it has.
    pub fn sla_status(
        &self,
        now: DateTime<Utc>,
        due_on: NaiveDate,
        completed_at: Option<DateTime<Utc>>,
    ) -> SlaStatus {
        if let Some(done) = completed_at {
            return if done < end_of(due_on) {
                SlaStatus::MetOnTime
            } else {
                SlaStatus::MetLate
            };
        }
        let left = self.business_time_left(now, due_on);
        if left <= Duration::zero() && now >= end_of(due_on) {
            SlaStatus::Breached
        } else if left < Duration::days(1) {
            SlaStatus::AtRisk
        } else {
            SlaStatus::OnTrack
        }
    }
}

/// The first instant of `day`.
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The first instant after `day`.
pub fn end_of(day: NaiveDate) -> DateTime<Utc> {
    start_of(day.succ_opt().unwrap_or(day))
}

/// A day as people and forms write it: `YYYY-MM-DD`.
pub fn parse_day(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{}' is not a date: expected YYYY-MM-DD", value.trim()))
}

/// "2 d 4 h", "5 h", "40 min": a business-time span for people.
pub fn human_span(span: Duration) -> String {
    let minutes = span.num_minutes().abs();
    let (d, h, m) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn three_business_days_skip_the_weekend() {
        let none = Holidays::default();
        // Monday → Thursday.
        assert_eq!(
            none.add_business_days(day("2026-11-16"), 3),
            day("2026-11-19")
        );
        // Thursday → Tuesday: Friday, Monday, Tuesday.
        assert_eq!(
            none.add_business_days(day("2026-11-19"), 3),
            day("2026-11-24")
        );
        // Friday → Wednesday.
        assert_eq!(
            none.add_business_days(day("2026-11-20"), 3),
            day("2026-11-25")
        );
        // A release on a Saturday counts from Monday.
        assert_eq!(
            none.add_business_days(day("2026-11-21"), 3),
            day("2026-11-25")
        );
    }

    #[test]
    fn holidays_do_not_count() {
        // Thanksgiving and the day after.
        let h = Holidays::new([day("2026-11-26"), day("2026-11-27")]);
        // Tuesday → Wednesday, (Thu, Fri holidays, weekend), Monday, Tuesday.
        assert_eq!(h.add_business_days(day("2026-11-24"), 3), day("2026-12-01"));
        assert!(!h.is_business_day(day("2026-11-26")));
        assert!(h.is_business_day(day("2026-11-25")));
        // Christmas across a weekend into the new year.
        let h = Holidays::new([day("2026-12-24"), day("2026-12-25"), day("2027-01-01")]);
        assert_eq!(h.add_business_days(day("2026-12-23"), 3), day("2026-12-30"));
        assert_eq!(h.add_business_days(day("2026-12-30"), 3), day("2027-01-05"));
    }

    #[test]
    fn time_left_counts_only_business_days() {
        let none = Holidays::default();
        // Friday noon, due Monday: half of Friday and all of Monday.
        let left = none.business_time_left(at("2026-11-20T12:00:00Z"), day("2026-11-23"));
        assert_eq!(left, Duration::hours(36));
        // Saturday, due Monday: only Monday.
        let left = none.business_time_left(at("2026-11-21T09:00:00Z"), day("2026-11-23"));
        assert_eq!(left, Duration::hours(24));
        // After the deadline it is negative.
        let left = none.business_time_left(at("2026-11-24T06:00:00Z"), day("2026-11-23"));
        assert_eq!(left, -Duration::hours(6));
    }

    #[test]
    fn the_clock_reads_on_track_at_risk_and_breached() {
        let h = Holidays::new([day("2026-11-26")]);
        let due = day("2026-11-27"); // a Friday; Thursday is a holiday
        assert_eq!(
            h.sla_status(at("2026-11-25T10:00:00Z"), due, None),
            SlaStatus::OnTrack
        );
        // Thursday is a holiday: at its noon exactly Friday is left, one business day.
        assert_eq!(
            h.business_time_left(at("2026-11-26T12:00:00Z"), due),
            Duration::hours(24)
        );
        assert_eq!(
            h.sla_status(at("2026-11-26T12:00:00Z"), due, None),
            SlaStatus::OnTrack
        );
        assert_eq!(
            h.sla_status(at("2026-11-27T08:00:00Z"), due, None),
            SlaStatus::AtRisk
        );
        assert_eq!(
            h.sla_status(at("2026-11-27T23:59:00Z"), due, None),
            SlaStatus::AtRisk
        );
        assert_eq!(
            h.sla_status(at("2026-11-28T00:00:00Z"), due, None),
            SlaStatus::Breached
        );
        // Done: the clock stops.
        let done = Some(at("2026-11-27T18:00:00Z"));
        assert_eq!(
            h.sla_status(at("2026-12-10T00:00:00Z"), due, done),
            SlaStatus::MetOnTime
        );
        let late = Some(at("2026-11-30T09:00:00Z"));
        assert_eq!(
            h.sla_status(at("2026-12-10T00:00:00Z"), due, late),
            SlaStatus::MetLate
        );
    }

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(human_span(Duration::hours(30)), "1 d 6 h");
        assert_eq!(human_span(Duration::minutes(125)), "2 h 5 min");
        assert_eq!(human_span(-Duration::minutes(40)), "40 min");
    }
}
