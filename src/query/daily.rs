//! The `daily` view's arithmetic: spreading a report over the UTC days its
//! date range covers (the bar column of its table form is `render`'s).
//!
//! Most reporters send one report per UTC day (`begin` 00:00:00, `end`
//! 23:59:59), which lands whole on that day. Some cover 24 hours from an
//! arbitrary hour, or several days; piling those on their first day would
//! draw spikes that never happened, so each report's messages are shared
//! out in proportion to how much of its range falls on each day.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::pct;

const DAY: i64 = 86_400;

/// The longest range spread out; a longer one (a reporter's bug) is
/// treated as this long from its begin, so one bad report cannot make the
/// view walk millions of days.
const MAX_SPAN: i64 = 62 * DAY;

/// Per-day totals, as fractions of messages until [`Days::rows`] rounds.
#[derive(Debug, Default)]
pub(super) struct Days {
    days: BTreeMap<i64, (f64, f64)>,
}

impl Days {
    /// Adds one report's `messages` (of which `pass` passed) over
    /// `[begin, end)`; `end` at or before `begin` counts as one second.
    pub fn add(&mut self, begin: i64, end: i64, messages: i64, pass: i64) {
        let end = end.clamp(begin.saturating_add(1), begin.saturating_add(MAX_SPAN));
        let span = (end - begin) as f64;
        let mut day = begin.div_euclid(DAY);
        while day * DAY < end {
            let lo = begin.max(day * DAY);
            let hi = end.min((day + 1) * DAY);
            let share = (hi - lo) as f64 / span;
            let e = self.days.entry(day).or_default();
            e.0 += messages as f64 * share;
            e.1 += pass as f64 * share;
            day += 1;
        }
    }

    /// One row per day from the first to the last (days without reports
    /// show 0): `day`, `messages`, `messages_pass`, `messages_fail`,
    /// `pass_pct`. Shares are rounded to whole messages per day, so a
    /// column total can differ by one from the sum of the reports.
    pub fn rows(&self) -> Vec<Vec<Value>> {
        let (Some(first), Some(last)) = (self.days.keys().next(), self.days.keys().last()) else {
            return Vec::new();
        };
        (*first..=*last)
            .map(|d| {
                let (m, p) = self.days.get(&d).copied().unwrap_or_default();
                let messages = m.round() as i64;
                let fail = (m - p).round() as i64;
                vec![
                    json!(day_name(d)),
                    json!(messages),
                    json!(messages - fail),
                    json!(fail),
                    if m > 0.0 { pct(p, m) } else { Value::Null },
                ]
            })
            .collect()
    }
}

fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * DAY, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_report_lands_on_its_day() {
        let mut d = Days::default();
        d.add(10 * DAY, 11 * DAY - 1, 100, 90);
        let rows = d.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "1970-01-11");
        assert_eq!(
            (rows[0][1].clone(), rows[0][3].clone()),
            (json!(100), json!(10))
        );
    }

    #[test]
    fn a_two_day_report_is_split_in_proportion() {
        let mut d = Days::default();
        // 18:00 to 18:00 next day: a quarter on the first day.
        d.add(10 * DAY + 18 * 3600, 11 * DAY + 18 * 3600, 100, 60);
        let rows = d.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], json!(25));
        assert_eq!(rows[1][1], json!(75));
        assert_eq!(rows[1][2], json!(45));
        assert_eq!(rows[1][4], json!(60.0));
    }

    #[test]
    fn gaps_show_as_zero_days() {
        let mut d = Days::default();
        d.add(10 * DAY, 11 * DAY, 5, 5);
        d.add(12 * DAY, 13 * DAY, 5, 5);
        let rows = d.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][1], json!(0));
        assert!(rows[1][4].is_null());
    }

    #[test]
    fn absurd_ranges_are_capped() {
        let mut d = Days::default();
        d.add(0, i64::MAX, 62, 62);
        assert_eq!(d.rows().len(), 62);
    }
}
