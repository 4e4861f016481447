//! Business days: the clock of release maintenance. An image update is due three business
//! days after the release; weekends and configured holidays do not count. Deadlines are the
//! end of the due day in UTC, the time zone every date in the portal is kept in.
//!
//! Every computation here takes a bounded number of steps whatever the dates: whole weeks
//! are counted arithmetically and only the configured holidays are walked, never the days
//! in between. Dates people type are accepted from [`EARLIEST_DAY`] to a year after today
//! ([`check_day`]).

use std::{collections::BTreeSet, ops::Bound};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc, Weekday};

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

    /// Holidays that fall on a weekday in `(after, through]`: the ones that take a day off
    /// the business days of that span. Walks the holidays, not the days.
    fn weekday_holidays(&self, after: NaiveDate, through: NaiveDate) -> i64 {
        if through <= after {
            return 0;
        }
        let count = self
            .0
            .range((Bound::Excluded(after), Bound::Included(through)))
            .filter(|d| !is_weekend(**d))
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// Business days in `(after, through]`; 0 when `through` is not after `after`.
    pub fn business_days_between(&self, after: NaiveDate, through: NaiveDate) -> i64 {
        (weekdays_between(after, through) - self.weekday_holidays(after, through)).max(0)
    }

    /// The `n`th business day after `start` (`start` itself never counts). A day past the
    /// last date the calendar can hold is that last date.
    pub fn add_business_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return start;
        }
        // Each weekday holiday in the span pushes the end one weekday further, which may
        // take in another holiday: at most one round per holiday.
        let mut skipped = 0_i64;
        loop {
            let Some(day) = add_weekdays(start, i64::from(n) + skipped) else {
                return NaiveDate::MAX;
            };
            let holidays = self.weekday_holidays(start, day);
            if holidays == skipped {
                return day;
            }
            skipped = holidays;
        }
    }

    /// Business time from `now` to the end of `due_on`: only business days count, a part
    /// of one counts in part. Negative once the deadline has passed (by wall-clock time).
    pub fn business_time_left(&self, now: DateTime<Utc>, due_on: NaiveDate) -> Duration {
        let deadline = end_of(due_on);
        if now >= deadline {
            return -(now - deadline);
        }
        let today = now.date_naive();
        let rest_of_today = if self.is_business_day(today) {
            end_of(today) - now
        } else {
            Duration::zero()
        };
        let whole_days = self.business_days_between(today, due_on);
        Duration::try_days(whole_days)
            .and_then(|days| days.checked_add(&rest_of_today))
            .unwrap_or(Duration::MAX)
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

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A Monday, to count weeks from.
const MONDAY: NaiveDate = NaiveDate::from_ymd_opt(2001, 1, 1).expect("a date");

/// Weekdays from [`MONDAY`] up to and including `day` (negative before it): a running count
/// whose differences count the weekdays between two days, in constant time.
fn weekdays_through(day: NaiveDate) -> i64 {
    let offset = day.signed_duration_since(MONDAY).num_days();
    let (weeks, weekday) = (offset.div_euclid(7), offset.rem_euclid(7));
    weeks * 5 + (weekday + 1).min(5)
}

/// Weekdays in `(after, through]`; 0 when `through` is not after `after`.
fn weekdays_between(after: NaiveDate, through: NaiveDate) -> i64 {
    (weekdays_through(through) - weekdays_through(after)).max(0)
}

/// The `n`th weekday after `start`, in constant time; `None` past the calendar's end.
fn add_weekdays(start: NaiveDate, n: i64) -> Option<NaiveDate> {
    let from_monday = i64::from(start.weekday().num_days_from_monday());
    // A weekend day has the weekdays after it that the Friday before it has.
    let total = from_monday.min(4).checked_add(n)?;
    let from_its_monday = (total / 5).checked_mul(7)?.checked_add(total % 5)?;
    start.checked_add_signed(Duration::try_days(from_its_monday - from_monday)?)
}

/// The first day anyone may give: nothing the portal tracks is older.
pub const EARLIEST_DAY: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date");

/// The last day anyone may give on `today`: a year after it.
pub fn latest_day(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_months(Months::new(12))
        .unwrap_or(NaiveDate::MAX)
}

/// A day someone gave, checked against the days the portal accepts on `today`: from
/// [`EARLIEST_DAY`] to [`latest_day`]. Anything outside is refused with the range.
pub fn check_day(day: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    let latest = latest_day(today);
    if (EARLIEST_DAY..=latest).contains(&day) {
        Ok(day)
    } else {
        Err(format!(
            "{day} is out of range: give a day from {EARLIEST_DAY} to {latest}"
        ))
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
    fn weeks_are_counted_from_a_monday() {
        assert_eq!(MONDAY.weekday(), Weekday::Mon);
        let none = Holidays::default();
        // Friday to the next Friday: five weekdays.
        assert_eq!(
            none.business_days_between(day("2026-11-20"), day("2026-11-27")),
            5
        );
        assert_eq!(
            none.business_days_between(day("2026-11-27"), day("2026-11-20")),
            0
        );
    }

    #[test]
    fn the_calendar_answers_at_once_at_its_ends() {
        let h = Holidays::new([day("2026-12-25"), NaiveDate::MAX, NaiveDate::MIN]);
        assert_eq!(h.add_business_days(NaiveDate::MAX, 3), NaiveDate::MAX);
        assert_eq!(
            h.add_business_days(NaiveDate::MIN, u32::MAX),
            NaiveDate::MAX
        );
        let first = h.add_business_days(NaiveDate::MIN, 3);
        assert!(first > NaiveDate::MIN && first < NaiveDate::MIN + Duration::days(10));
        // The release that once took a minute a request: year 262142.
        let far = day("+262142-12-20");
        assert_eq!(h.add_business_days(far, 3), day("+262142-12-25"));
        let now = at("2026-11-20T12:00:00Z");
        let left = h.business_time_left(now, far);
        assert!(left > Duration::days(60_000_000), "{left}");
        assert_eq!(h.sla_status(now, far, None), SlaStatus::OnTrack);
        let past = h.business_time_left(DateTime::<Utc>::MAX_UTC, day("2000-01-01"));
        assert!(past < Duration::zero());
        assert_eq!(
            h.sla_status(DateTime::<Utc>::MIN_UTC, NaiveDate::MAX, None),
            SlaStatus::OnTrack
        );
    }

    #[test]
    fn only_days_from_2000_to_a_year_ahead_are_accepted() {
        let today = day("2026-11-20");
        assert_eq!(check_day(day("2000-01-01"), today), Ok(day("2000-01-01")));
        assert_eq!(check_day(day("2027-11-20"), today), Ok(day("2027-11-20")));
        for refused in ["1999-12-31", "2027-11-21", "+262142-12-20"] {
            let err = check_day(day(refused), today).expect_err(refused);
            assert!(
                err.contains("2000-01-01") && err.contains("2027-11-20"),
                "{err}"
            );
        }
        assert_eq!(latest_day(NaiveDate::MAX), NaiveDate::MAX);
    }

    /// The old day-by-day walk, as the reference for the arithmetic.
    fn walk_business_days(h: &Holidays, start: NaiveDate, n: u32) -> NaiveDate {
        let (mut day, mut left) = (start, n);
        while left > 0 {
            day = day.succ_opt().expect("inside the calendar");
            if h.is_business_day(day) {
                left -= 1;
            }
        }
        day
    }

    fn walk_time_left(h: &Holidays, now: DateTime<Utc>, due_on: NaiveDate) -> Duration {
        let deadline = end_of(due_on);
        if now >= deadline {
            return -(now - deadline);
        }
        let (mut left, mut d) = (Duration::zero(), now.date_naive());
        while d <= due_on {
            if h.is_business_day(d) {
                left += end_of(d) - start_of(d).max(now);
            }
            d = d.succ_opt().expect("inside the calendar");
        }
        left
    }

    fn any_day() -> impl proptest::strategy::Strategy<Value = NaiveDate> {
        use proptest::prelude::*;
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
            .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).expect("in range"))
    }

    fn near_day() -> impl proptest::strategy::Strategy<Value = NaiveDate> {
        use proptest::prelude::*;
        (0_i64..2_000).prop_map(|n| day("2025-01-01") + Duration::days(n))
    }

    proptest::proptest! {
        #[test]
        fn extreme_dates_and_counts_end_in_bounded_steps(
            start in any_day(),
            n in proptest::prelude::any::<u32>(),
            due in any_day(),
            secs in proptest::prelude::any::<i64>(),
            holidays in proptest::collection::vec(any_day(), 0..20),
        ) {
            let h = Holidays::new(holidays);
            let end = h.add_business_days(start, n);
            proptest::prop_assert!(end >= start);
            let now = DateTime::<Utc>::from_timestamp(
                secs.rem_euclid(DateTime::<Utc>::MAX_UTC.timestamp()), 0,
            ).unwrap_or_default();
            let left = h.business_time_left(now, due);
            if now >= end_of(due) {
                proptest::prop_assert!(left <= Duration::zero());
            } else {
                proptest::prop_assert!(left >= Duration::zero());
            }
            let _ = h.sla_status(now, due, None);
            let _ = h.business_days_between(start, due);
        }

        #[test]
        fn the_arithmetic_agrees_with_walking_day_by_day(
            start in near_day(),
            n in 0_u32..40,
            holidays in proptest::collection::vec(near_day(), 0..60),
            minutes in 0_i64..(400 * 1440),
            due in near_day(),
        ) {
            let h = Holidays::new(holidays);
            proptest::prop_assert_eq!(h.add_business_days(start, n), walk_business_days(&h, start, n));
            let now = start_of(day("2025-01-01")) + Duration::minutes(minutes);
            proptest::prop_assert_eq!(h.business_time_left(now, due), walk_time_left(&h, now, due));
        }
    }

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(human_span(Duration::hours(30)), "1 d 6 h");
        assert_eq!(human_span(Duration::minutes(125)), "2 h 5 min");
        assert_eq!(human_span(-Duration::minutes(40)), "40 min");
    }
}
