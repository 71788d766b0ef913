//! `query daily` adds up: every report's messages and passes are shared
//! over its days in whole numbers that sum exactly to its totals (per
//! report and overall), a day's pass % comes from the numbers shown, a day
//! without messages has none, and only the window's days are shown.

mod fixture;

use fixture::{day, json, midnight, run, Env, Rec, Report, DAY};
use serde_json::Value;

/// SplitMix64: a small deterministic PRNG, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `dmarcdb query daily ARGS --format json` as rows.
fn daily(env: &Env, args: &[&str]) -> Vec<Value> {
    let (code, out, err) = run(env
        .cmd()
        .args(["query", "daily", "--format", "json"])
        .args(args));
    assert_eq!(code, 0, "{err}");
    if out.trim().is_empty() {
        return Vec::new();
    }
    json(&out).as_array().unwrap().clone()
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// Sum of messages and passes, after checking each row's own arithmetic.
fn sums(rows: &[Value]) -> (i64, i64) {
    let (mut m, mut p) = (0, 0);
    for r in rows {
        let (rm, rp, rf) = (
            num(&r["messages"]),
            num(&r["messages_pass"]),
            num(&r["messages_fail"]),
        );
        assert!(rp <= rm && rp >= 0, "{r}");
        assert_eq!(rf, rm - rp, "{r}");
        if rm == 0 {
            assert!(r["pass_pct"].is_null(), "pass % without messages: {r}");
        } else {
            let pct = (1000.0 * rp as f64 / rm as f64).round() / 10.0;
            assert_eq!(r["pass_pct"].as_f64(), Some(pct), "{r}");
        }
        m += rm;
        p += rp;
    }
    (m, p)
}

#[test]
fn random_reports_sum_exactly_per_report_and_overall() {
    let env = Env::new();
    let mut rng = Rng(0xda11_5eed);
    let base = midnight(4 * 365);
    let mut reports = Vec::new();
    for i in 0..14 {
        // Spans from 1 second to about three years, at any second.
        let span = match i % 4 {
            0 => 1 + rng.below(3600),
            1 => 1 + rng.below(DAY as u64),
            2 => 1 + rng.below(40 * DAY as u64),
            _ => 1 + rng.below(3 * 365 * DAY as u64),
        } as i64;
        let begin = base + rng.below(300 * DAY as u64) as i64;
        let records = (0..1 + rng.below(3))
            .map(|k| {
                let count = [rng.below(3), rng.below(50), rng.below(1 << 33)][k as usize % 3];
                Rec::new(&format!("192.0.2.{k}"), count as i64, rng.below(2) == 0)
            })
            .collect();
        let mut r = Report::day(&format!("org{i}"), &format!("id{i}"), begin, records);
        r.end = begin + span;
        reports.push(r);
    }
    // The case that used to vanish: 12 messages over three years.
    let mut small = Report::day("small", "s", base, vec![Rec::new("192.0.2.9", 12, true)]);
    small.end = base + 3 * 365 * DAY;
    reports.push(small);
    env.ingest(&reports);

    let first = reports.iter().map(|r| r.begin).min().unwrap();
    let last = reports.iter().map(|r| r.end).max().unwrap();
    let window = ["--since", &day(first), "--until", &day(last)].map(str::to_string);
    let window: Vec<&str> = window.iter().map(String::as_str).collect();
    let (code, out, err) = run(env.cmd().args(["query", "reports", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let stored = json(&out);
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len(), reports.len());

    let (mut total_m, mut total_p) = (0, 0);
    for r in stored {
        let org = r["org_name"].as_str().unwrap();
        let mut args = window.clone();
        args.extend(["--org", org]);
        let got = sums(&daily(&env, &args));
        let want = (num(&r["messages"]), num(&r["messages_pass"]));
        assert_eq!(got, want, "{org}: {r}");
        total_m += want.0;
        total_p += want.1;
    }
    assert_eq!(sums(&daily(&env, &window)), (total_m, total_p));
}

/// A report straddling either edge of the window counts with its
/// in-window days only; no day outside the window is shown.
#[test]
fn window_edges_clip_days() {
    let env = Env::new();
    let d0 = midnight(20);
    // Three days, 10 messages a day, the first one before the window.
    let mut before = Report::day(
        "edge",
        "before",
        d0 - DAY,
        vec![Rec::new("192.0.2.1", 30, true)],
    );
    before.end = d0 + 2 * DAY;
    // Three days, the last one after the window.
    let mut after = Report::day(
        "edge",
        "after",
        d0 + 3 * DAY,
        vec![Rec::new("192.0.2.1", 30, false)],
    );
    after.end = after.begin + 3 * DAY;
    env.ingest(&[before, after]);

    let rows = daily(&env, &["--since", &day(d0), "--until", &day(d0 + 4 * DAY)]);
    let got: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap().to_string(),
                num(&r["messages"]),
                num(&r["messages_pass"]),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (day(d0), 10, 10),
            (day(d0 + DAY), 10, 10),
            (day(d0 + 2 * DAY), 0, 0),
            (day(d0 + 3 * DAY), 10, 0),
            (day(d0 + 4 * DAY), 10, 0),
        ]
    );
    sums(&rows);
    // A one-day window shows that day only.
    let rows = daily(&env, &["--since", &day(d0), "--until", &day(d0)]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["day"], day(d0).as_str());
}

/// `--days N` shows the last N days, today included, and nothing of a
/// report's days before them.
#[test]
fn days_window_shows_the_last_days() {
    let env = Env::new();
    let mut long = Report::day(
        "o",
        "long",
        midnight(9),
        vec![Rec::new("192.0.2.1", 100, true)],
    );
    long.end = midnight(-1);
    env.ingest(&[long]);
    let rows = daily(&env, &["--days", "3"]);
    let days: Vec<&str> = rows.iter().map(|r| r["day"].as_str().unwrap()).collect();
    assert_eq!(days, [day(midnight(2)), day(midnight(1)), day(midnight(0))]);
    assert!(rows.iter().all(|r| num(&r["messages"]) == 10), "{rows:?}");
}
