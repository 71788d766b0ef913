//! Charts: the daily pass/fail bar chart and the small pass-rate meters,
//! as inline SVG.
//!
//! The bar chart stretches to the page's width (`preserveAspectRatio=none`
//! on a fixed viewBox), so its labels are HTML around it, not SVG text that
//! would stretch. Each day is a `<g>` carrying its numbers as `data-`
//! attributes and a `<title>`; failing messages are hatched as well as
//! coloured; the chart's summary is its accessible name, and the same
//! numbers follow as a table for screen readers and for print.

use super::escape::escape_html;
use super::sections::thousands;
use super::Day;

/// The viewBox height the bars are scaled to.
pub const HEIGHT: f64 = 200.0;
/// The viewBox width of one day's slot.
const SLOT: f64 = 10.0;
/// The bar's share of its slot.
const BAR: f64 = 8.0;
/// CSS pixels per day at most (the chart shrinks to the page's width).
const PX_PER_DAY: usize = 40;
/// The narrowest chart, in CSS pixels.
const MIN_PX: usize = 320;

/// Definitions the charts refer to (the hatch pattern), once per page.
pub fn defs() -> &'static str {
    "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\" focusable=\"false\"><defs>\
     <pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
     <rect class=\"hatch-bg\" width=\"6\" height=\"6\"/><line class=\"hatch-line\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\"/>\
     </pattern></defs></svg>"
}

/// The daily chart with its legend, axis labels and data table.
pub fn daily(days: &[Day]) -> String {
    if days.is_empty() {
        return "<p class=\"empty\">No messages in this window.</p>".to_string();
    }
    let max = days
        .iter()
        .map(|d| d.pass + d.fail)
        .max()
        .unwrap_or(0)
        .max(1);
    let total: i64 = days.iter().map(|d| d.pass + d.fail).sum();
    let failing: i64 = days.iter().map(|d| d.fail).sum();
    let busiest = days
        .iter()
        .max_by_key(|d| d.pass + d.fail)
        .map(|d| d.day.as_str())
        .unwrap_or("");
    let (first, last) = (&days[0].day, &days[days.len() - 1].day);
    let summary = format!(
        "Messages per day from {first} to {last}: {} in all, {} failing DMARC; \
         the busiest day, {busiest}, had {}.",
        thousands(total),
        thousands(failing),
        thousands(max),
    );
    let width = SLOT * days.len() as f64;
    // Drawn width in CSS pixels: a few days do not stretch over the page.
    let px = (days.len() * PX_PER_DAY).max(MIN_PX);
    let mut bars = String::new();
    for (i, d) in days.iter().enumerate() {
        bars.push_str(&bar(i, d, max));
    }
    format!(
        "<figure class=\"chart\"><div class=\"plot\">\
         <svg class=\"bars\" width=\"{px}\" height=\"{HEIGHT}\" viewBox=\"0 0 {width} {HEIGHT}\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{label}\" data-max=\"{max}\">{bars}</svg>\
         <div class=\"axis\" aria-hidden=\"true\"><span>{first}</span><span>busiest: {maxt}</span><span>{last}</span></div>\
         </div>{legend}<figcaption>{label}</figcaption>\
         <details><summary>The numbers per day</summary>{table}</details></figure>",
        label = escape_html(&summary),
        maxt = thousands(max),
        first = escape_html(first),
        last = escape_html(last),
        legend = legend(),
        table = table(days),
    )
}

/// One day: passing messages at the bottom, failing stacked on top, both
/// scaled to the busiest day.
fn bar(i: usize, d: &Day, max: i64) -> String {
    let scale = |n: i64| HEIGHT * n as f64 / max as f64;
    let x = SLOT * i as f64 + (SLOT - BAR) / 2.0;
    let (hp, hf) = (scale(d.pass), scale(d.fail));
    let day = escape_html(&d.day);
    format!(
        "<g class=\"day\" data-day=\"{day}\" data-pass=\"{p}\" data-fail=\"{f}\">\
         <title>{day}: {p} passing, {f} failing</title>\
         <rect class=\"pass\" x=\"{x}\" y=\"{yp}\" width=\"{BAR}\" height=\"{hp}\"/>\
         <rect class=\"fail\" x=\"{x}\" y=\"{yf}\" width=\"{BAR}\" height=\"{hf}\"/></g>",
        p = d.pass,
        f = d.fail,
        yp = HEIGHT - hp,
        yf = HEIGHT - hp - hf,
    )
}

fn legend() -> &'static str {
    "<ul class=\"legend\">\
     <li><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><rect class=\"swatch-pass\" width=\"14\" height=\"14\"/></svg>passing DMARC (solid, bottom)</li>\
     <li><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><rect class=\"swatch-fail\" width=\"14\" height=\"14\"/></svg>failing DMARC (hatched, top)</li></ul>"
}

fn table(days: &[Day]) -> String {
    let mut rows = String::new();
    for d in days {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape_html(&d.day),
            d.pass + d.fail,
            d.pass,
            d.fail
        ));
    }
    format!(
        "<div class=\"scroll\"><table><thead><tr><th>Day</th><th class=\"num\">Messages</th>\
         <th class=\"num\">Passing</th><th class=\"num\">Failing</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// A small horizontal meter of a percentage (decoration: the number is
/// always written beside it, so it is hidden from screen readers).
pub fn meter(pct: f64) -> String {
    let w = 60.0 * pct.clamp(0.0, 100.0) / 100.0;
    format!(
        "<svg class=\"meter\" width=\"60\" height=\"8\" aria-hidden=\"true\">\
         <rect class=\"track\" width=\"60\" height=\"8\"/><rect class=\"fill\" width=\"{w:.1}\" height=\"8\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, pass: i64, fail: i64) -> Day {
        Day {
            day: d.into(),
            pass,
            fail,
        }
    }

    #[test]
    fn bars_are_in_proportion_to_the_busiest_day() {
        let svg = daily(&[day("2024-01-01", 50, 50), day("2024-01-02", 10, 40)]);
        // The busiest day (100) fills the height; the other is half of it,
        // its passing fifth a fifth of that.
        assert!(
            svg.contains("class=\"pass\" x=\"1\" y=\"100\" width=\"8\" height=\"100\""),
            "{svg}"
        );
        assert!(
            svg.contains("class=\"fail\" x=\"1\" y=\"0\" width=\"8\" height=\"100\""),
            "{svg}"
        );
        assert!(
            svg.contains("class=\"pass\" x=\"11\" y=\"180\" width=\"8\" height=\"20\""),
            "{svg}"
        );
        assert!(
            svg.contains("class=\"fail\" x=\"11\" y=\"100\" width=\"8\" height=\"80\""),
            "{svg}"
        );
        assert!(svg.contains("150 in all, 90 failing DMARC"), "{svg}");
    }

    #[test]
    fn an_empty_series_says_so() {
        assert!(daily(&[]).contains("No messages"));
    }

    #[test]
    fn days_without_messages_draw_nothing_and_do_not_divide_by_zero() {
        let svg = daily(&[day("2024-01-01", 0, 0)]);
        assert!(svg.contains("height=\"0\""), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
    }
}
