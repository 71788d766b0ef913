//! Apportionment: how one report's messages are shared out over the UTC
//! days its date range covers, in whole messages that add up exactly.
//!
//! Most reporters send one report per UTC day, which lands whole on that
//! day. Some cover 24 hours from an arbitrary hour, or several days, or (a
//! reporter's bug) years; piling those on their first day would draw
//! spikes that never happened, so each day gets the share of the report's
//! messages that its part of the range is of the whole range.
//!
//! The method is cumulative rounding: the messages up to an instant `t` are
//! `F(t) = round(M · (t − begin) / (end − begin))`, and a day gets
//! `F(day end) − F(day start)`. So, for every report:
//! - the days' messages add up to exactly `M` (the sum telescopes to
//!   `F(end) − F(begin) = M`), and no message is ever lost, however long
//!   the range: there is no cap;
//! - each day is within one message of its exact proportional share;
//! - any single day is computed on its own in constant time, so a view
//!   clipped to a window works out only the days it shows, and a report
//!   claiming a range of centuries costs only the days inside the window.
//!
//! Passing messages are shared out the same way over the *messages*:
//! `G(f) = round(P · f / M)` of the first `f` messages pass, and a day with
//! messages `F(hi) − F(lo)` gets `G(F(hi)) − G(F(lo))` passes. Because
//! `P ≤ M` and rounding is monotone, a day never has more passes than
//! messages, a day without messages has no passes, and the passes add up
//! to exactly `P`. (Largest-remainder apportionment also sums exactly, but
//! it needs every day of the range at once, so it cannot clip cheaply.)

use std::ops::Range;

/// Seconds in a UTC day.
pub const DAY: i64 = 86_400;

/// One day's share of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayShare {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub messages: u64,
    /// Passing messages, at most `messages`.
    pub pass: u64,
}

/// One report's range and counts, ready to be shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// The range `[begin, end)` in epoch seconds, as i128 so no day bound
    /// can overflow.
    begin: i128,
    end: i128,
    messages: u64,
    pass: u64,
}

impl Spread {
    /// A report covering `[begin, end)` (epoch seconds) with `messages`
    /// messages of which `pass` passed. An `end` at or before `begin`
    /// counts as one second, so the report lands on its begin day; negative
    /// counts count as 0 and `pass` is capped at `messages`.
    pub fn new(begin: i64, end: i64, messages: i64, pass: i64) -> Spread {
        let messages = u64::try_from(messages).unwrap_or(0);
        let pass = u64::try_from(pass).unwrap_or(0).min(messages);
        let begin = i128::from(begin);
        let end = i128::from(end).max(begin + 1);
        Spread {
            begin,
            end,
            messages,
            pass,
        }
    }

    /// The days the range touches, first to last.
    pub fn days(&self) -> Range<i64> {
        let first = self.begin.div_euclid(i128::from(DAY));
        let last = (self.end - 1).div_euclid(i128::from(DAY));
        // Epoch seconds in i64 always give days well inside i64.
        first as i64..last as i64 + 1
    }

    /// The share of `day` (0 messages outside the range).
    pub fn day(&self, day: i64) -> DayShare {
        let start = i128::from(day) * i128::from(DAY);
        let lo = self.begin.max(start).min(self.end);
        let hi = self.end.min(start + i128::from(DAY)).max(lo);
        let (f_lo, f_hi) = (self.messages_until(lo), self.messages_until(hi));
        DayShare {
            day,
            messages: f_hi - f_lo,
            pass: self.passes_among(f_hi) - self.passes_among(f_lo),
        }
    }

    /// The shares of the days in `days` that the range touches, in order.
    pub fn within(&self, days: Range<i64>) -> impl Iterator<Item = DayShare> + '_ {
        let own = self.days();
        (days.start.max(own.start)..days.end.min(own.end)).map(|d| self.day(d))
    }

    /// `F(t)`: messages before instant `t`, `begin <= t <= end`.
    fn messages_until(&self, t: i128) -> u64 {
        let span = (self.end - self.begin) as u128;
        let elapsed = (t - self.begin) as u128;
        round_ratio(self.messages, elapsed, span)
    }

    /// `G(f)`: passing messages among the first `f`.
    fn passes_among(&self, f: u64) -> u64 {
        round_ratio(self.pass, u128::from(f), u128::from(self.messages))
    }
}

/// The days a window shows: day `d` is in when its start is,
/// `since <= d · DAY < until` (epoch seconds; `None` is open). With
/// `--since`/`--until` dates those are exactly the days named; with
/// `--days N` (a window ending now) the last N days counting today.
pub fn window_days(since: Option<i64>, until: Option<i64>) -> Range<i64> {
    let first = since.map_or(i64::MIN, |s| ceil_day(i128::from(s)));
    let end = until.map_or(i64::MAX, |u| ceil_day(i128::from(u)));
    first..end.max(first)
}

fn ceil_day(t: i128) -> i64 {
    let d = i128::from(DAY);
    // Fits: an i64 of seconds divided by a day.
    ((t + d - 1).div_euclid(d)) as i64
}

/// Per-day totals of many reports over the days of one window.
#[derive(Debug, Clone, Default)]
pub struct Days {
    range: Range<i64>,
    totals: std::collections::BTreeMap<i64, (u64, u64)>,
}

impl Days {
    /// Totals over `range` (see [`window_days`]) only.
    pub fn new(range: Range<i64>) -> Days {
        Days {
            range,
            totals: Default::default(),
        }
    }

    /// Adds the in-window days of one report.
    pub fn add(&mut self, spread: &Spread) {
        for d in spread.within(self.range.clone()) {
            if d.messages == 0 {
                continue;
            }
            let t = self.totals.entry(d.day).or_default();
            t.0 = t.0.saturating_add(d.messages);
            t.1 = t.1.saturating_add(d.pass);
        }
    }

    /// One entry per day from the first day with messages to the last,
    /// days in between with 0.
    pub fn rows(&self) -> Vec<DayShare> {
        let (Some(first), Some(last)) = (self.totals.keys().next(), self.totals.keys().last())
        else {
            return Vec::new();
        };
        (*first..=*last)
            .map(|day| {
                let (messages, pass) = self.totals.get(&day).copied().unwrap_or_default();
                DayShare {
                    day,
                    messages,
                    pass,
                }
            })
            .collect()
    }
}

impl DayShare {
    /// `100 · pass / messages` of the numbers shown, one decimal; `None`
    /// for a day without messages.
    pub fn pass_pct(&self) -> Option<f64> {
        (self.messages > 0)
            .then(|| (1000.0 * self.pass as f64 / self.messages as f64).round() / 10.0)
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        self.day
            .checked_mul(DAY)
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }
}

/// `round(n · x / d)`, halves up, for `x <= d`; 0 when `d` is 0. Exact in
/// u128: `n · x < 2^127`, as `n < 2^63` (it came from an i64) and
/// `x <= d <= 2^64` (the widest range of two i64 instants).
fn round_ratio(n: u64, x: u128, d: u128) -> u64 {
    if d == 0 {
        return 0;
    }
    let product = u128::from(n) * x;
    let (q, r) = (product / d, product % d);
    let q = if r >= d - r { q + 1 } else { q };
    // q <= n because x <= d.
    q as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(s: &Spread) -> Vec<(i64, u64, u64)> {
        s.within(s.days())
            .map(|d| (d.day, d.messages, d.pass))
            .collect()
    }

    #[test]
    fn a_day_report_lands_on_its_day() {
        // 00:00:00 to 23:59:59, as most reporters write it.
        let s = Spread::new(10 * DAY, 11 * DAY - 1, 100, 90);
        assert_eq!(shares(&s), [(10, 100, 90)]);
        // An exclusive end at midnight, as some others do.
        let s = Spread::new(10 * DAY, 11 * DAY, 100, 90);
        assert_eq!(shares(&s), [(10, 100, 90)]);
    }

    #[test]
    fn a_two_day_report_is_split_in_proportion() {
        // 18:00 to 18:00 next day: a quarter on the first day.
        let s = Spread::new(10 * DAY + 18 * 3600, 11 * DAY + 18 * 3600, 100, 60);
        assert_eq!(shares(&s), [(10, 25, 15), (11, 75, 45)]);
    }

    #[test]
    fn a_small_report_over_years_keeps_every_message() {
        // The case that used to vanish: 12 messages over three years.
        let s = Spread::new(0, 3 * 365 * DAY, 12, 7);
        let all = shares(&s);
        assert_eq!(all.len(), 3 * 365);
        assert_eq!(all.iter().map(|d| d.1).sum::<u64>(), 12);
        assert_eq!(all.iter().map(|d| d.2).sum::<u64>(), 7);
        assert_eq!(all.iter().filter(|d| d.1 > 0).count(), 12);
    }

    #[test]
    fn empty_or_inverted_range_is_one_second() {
        let s = Spread::new(5 * DAY + 7, 5 * DAY + 7, 3, 2);
        assert_eq!(shares(&s), [(5, 3, 2)]);
        let s = Spread::new(5 * DAY + 7, DAY, 3, 2);
        assert_eq!(shares(&s), [(5, 3, 2)]);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let s = Spread::new(i64::MIN, i64::MAX, i64::MAX, i64::MAX);
        let mid = s.days().start + (s.days().end - s.days().start) / 2;
        let d = s.day(mid);
        assert!(d.pass <= d.messages && d.messages <= 1 << 40, "{d:?}");
        let total: u64 = [s.days().start, s.days().end - 1]
            .iter()
            .map(|&d| s.day(d).messages)
            .sum();
        assert!(total < u64::MAX);
        // Nonsense counts.
        assert_eq!(shares(&Spread::new(0, DAY, -5, 3)), [(0, 0, 0)]);
        assert_eq!(shares(&Spread::new(0, DAY, 5, 9)), [(0, 5, 5)]);
    }

    #[test]
    fn clipping_computes_only_the_days_asked_for() {
        let s = Spread::new(-1000 * 365 * DAY, 1000 * 365 * DAY, 1_000_000, 1);
        let window: Vec<DayShare> = s.within(0..3).collect();
        assert_eq!(window.len(), 3);
        assert_eq!(window.iter().map(|d| d.day).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(s.within(2_000_000..2_000_010).next().is_none());
    }

    #[test]
    fn window_days_are_the_days_whose_start_is_inside() {
        // --since 1970-01-03 --until 1970-01-05: days 2, 3, 4.
        assert_eq!(window_days(Some(2 * DAY), Some(5 * DAY)), 2..5);
        // --days 2 at 15:00 on day 10: days 9 and 10.
        let now = 10 * DAY + 15 * 3600;
        assert_eq!(window_days(Some(now - 2 * DAY), None), 9..i64::MAX);
        assert_eq!(window_days(None, None), i64::MIN..i64::MAX);
        assert_eq!(window_days(Some(5 * DAY), Some(DAY)), 5..5);
    }

    #[test]
    fn days_clip_fill_gaps_and_pct_comes_from_the_shown_numbers() {
        let mut days = Days::new(window_days(Some(10 * DAY), Some(13 * DAY)));
        // Straddles the start: only its day 10 counts.
        days.add(&Spread::new(9 * DAY, 11 * DAY, 10, 5));
        // Straddles the end: only its day 12 counts.
        days.add(&Spread::new(12 * DAY, 14 * DAY, 7, 7));
        // Outside.
        days.add(&Spread::new(20 * DAY, 21 * DAY, 99, 0));
        let rows = days.rows();
        let got: Vec<_> = rows
            .iter()
            .map(|d| (d.date(), d.messages, d.pass, d.pass_pct()))
            .collect();
        assert_eq!(
            got,
            [
                ("1970-01-11".to_string(), 5, 2, Some(40.0)),
                ("1970-01-12".to_string(), 0, 0, None),
                ("1970-01-13".to_string(), 4, 4, Some(100.0)),
            ]
        );
    }

    /// A small deterministic PRNG (SplitMix64) for the property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform-ish in `0..n` (n > 0).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A count spread over magnitudes: 0, small, large, huge.
        fn count(&mut self) -> u64 {
            match self.below(5) {
                0 => self.below(3),
                1 => self.below(50),
                2 => self.below(100_000),
                3 => self.below(1 << 40),
                _ => self.below(i64::MAX as u64),
            }
        }

        /// A span from 1 second to about 8 years, spread over magnitudes.
        fn span(&mut self) -> i64 {
            let max = [60, DAY, 10 * DAY, 400 * DAY, 8 * 365 * DAY][self.below(5) as usize];
            1 + self.below(max as u64) as i64
        }
    }

    #[test]
    fn random_reports_sum_exactly_per_report_and_overall() {
        let mut rng = Rng(0x5eed_da11);
        let mut overall = std::collections::BTreeMap::<i64, (u128, u128)>::new();
        let (mut total_m, mut total_p) = (0u128, 0u128);
        for _ in 0..400 {
            let begin = 1_600_000_000 + rng.below(200 * DAY as u64) as i64 - 100 * DAY;
            let end = begin + rng.span();
            let m = rng.count();
            let p = rng.below(m + 1);
            let s = Spread::new(begin, end, m as i64, p as i64);
            let (span, mut sum_m, mut sum_p) = ((end - begin) as f64, 0u64, 0u64);
            for d in s.within(s.days()) {
                assert!(d.pass <= d.messages, "{begin} {end} {m} {p}: {d:?}");
                let lo = begin.max(d.day * DAY);
                let hi = end.min((d.day + 1) * DAY);
                let exact = m as f64 * (hi - lo) as f64 / span;
                // Within one message of the exact share (f64 slack for huge m).
                assert!(
                    (d.messages as f64 - exact).abs() <= 1.0 + exact * 1e-12,
                    "{begin} {end} {m}: {d:?} vs {exact}"
                );
                sum_m += d.messages;
                sum_p += d.pass;
                let e = overall.entry(d.day).or_default();
                e.0 += u128::from(d.messages);
                e.1 += u128::from(d.pass);
            }
            assert_eq!((sum_m, sum_p), (m, p), "{begin} {end}");
            total_m += u128::from(m);
            total_p += u128::from(p);
        }
        assert_eq!(overall.values().map(|v| v.0).sum::<u128>(), total_m);
        assert_eq!(overall.values().map(|v| v.1).sum::<u128>(), total_p);
        assert!(overall.values().all(|v| v.1 <= v.0));
    }

    #[test]
    fn random_windows_clip_to_the_days_they_cover() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let begin = rng.below(50 * DAY as u64) as i64;
            let s = Spread::new(begin, begin + rng.span(), rng.count() as i64, 0);
            let from = rng.below(60) as i64 - 5;
            let window = from..from + rng.below(30) as i64;
            let clipped: Vec<DayShare> = s.within(window.clone()).collect();
            let expected: Vec<DayShare> = s
                .within(s.days())
                .filter(|d| window.contains(&d.day))
                .collect();
            assert_eq!(clipped, expected);
        }
    }
}
