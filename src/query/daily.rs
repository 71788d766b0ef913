//! The table form of the `daily` view: the bar column. (Sharing reports
//! out over their days is [`super::apportion`].)

/// Width of the longest bar, in characters.
pub(super) const BAR_WIDTH: usize = 30;

/// A bar for `messages` of which `fail` failed, scaled so `max` fills
/// [`BAR_WIDTH`]: the passing part then the failing part (`█`/`░` with
/// `fancy`, `#`/`x` in plain ASCII). A day with any messages gets at least
/// one character, and any failure at least one failing character.
pub(super) fn bar(messages: i64, fail: i64, max: i64, fancy: bool) -> String {
    if messages <= 0 || max <= 0 {
        return String::new();
    }
    let width = ((messages as f64 / max as f64) * BAR_WIDTH as f64)
        .round()
        .max(1.0) as usize;
    let mut bad = ((fail as f64 / messages as f64) * width as f64).round() as usize;
    if fail > 0 {
        bad = bad.max(1);
    }
    let good = width.saturating_sub(bad);
    let (g, b) = if fancy { ("█", "░") } else { ("#", "x") };
    format!("{}{}", g.repeat(good), b.repeat(bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_and_show_failures() {
        assert_eq!(bar(100, 0, 100, false), "#".repeat(30));
        assert_eq!(
            bar(50, 25, 100, false),
            format!("{}{}", "#".repeat(7), "x".repeat(8))
        );
        assert_eq!(bar(1, 1, 1000, false), "x");
        assert_eq!(bar(0, 0, 10, true), "");
    }
}
