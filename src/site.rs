//! Site: the pages of `dmarcdb serve` — the dashboard (the HTML report,
//! live, with its window and filters from the URL), the drill-down pages
//! (a source's records → the report they came from, with its XML) and the
//! JSON API (`/api/VIEW`, exactly what `dmarcdb query VIEW --format json`
//! prints with the same options).
//!
//! URL parameters are turned into the command line's own flags and parsed
//! by the same clap definitions (`days`, `since`, `until`, `domain`, `org`,
//! `ip`, `limit`, `ours`, `external`), so a parameter means exactly what
//! its flag means, and a bad value gets the same message (as a 400).

use clap::Parser;

use crate::cli::{label, write_query};
use crate::cli::{FilterArgs, QueryArgs, WindowArgs};
use crate::config::Settings;
use crate::overview;
use crate::page::{self, escape_query, layout::FilterForm, Links};
use crate::serve::{Reply, Request, Site};
use crate::store::Store;

/// Records shown on a drill-down page.
const RECORDS: i64 = 500;

/// The parameters that become flags, in this order.
const FLAGS: [&str; 7] = ["days", "since", "until", "domain", "org", "ip", "limit"];
const SWITCHES: [&str; 2] = ["ours", "external"];

/// One worker's pages: its own connection and the settings.
pub struct Pages {
    pub store: Store,
    pub settings: Settings,
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct PageParams {
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct ApiParams {
    #[command(flatten)]
    query: QueryArgs,
}

/// The request's known parameters as flags (`--days 7 --ours`).
fn flags(req: &Request) -> Vec<String> {
    let mut out = Vec::new();
    for k in FLAGS {
        if let Some(v) = req.param(k) {
            out.push(format!("--{k}"));
            out.push(v.to_string());
        }
    }
    for k in SWITCHES {
        if req.param(k).is_some_and(|v| v != "0" && v != "false") {
            out.push(format!("--{k}"));
        }
    }
    out
}

/// The same parameters as a query string, for the links of a page.
fn carried(req: &Request) -> String {
    let mut parts = Vec::new();
    for k in FLAGS.iter().chain(&SWITCHES) {
        if let Some(v) = req.param(k) {
            parts.push(format!("{k}={}", escape_query(v)));
        }
    }
    parts.join("&")
}

fn bad_request(e: impl std::fmt::Display) -> Reply {
    Reply::error(400, &e.to_string())
}

fn internal(e: impl std::fmt::Display) -> Reply {
    Reply::error(500, &format!("error: {e}"))
}

impl Site for Pages {
    fn get(&mut self, req: &Request) -> Reply {
        match req.path.as_str() {
            "/" => self.dashboard(req),
            "/source" => self.source(req),
            "/report" => self.report(req),
            p if p.starts_with("/api/") => self.api(&p["/api/".len()..], req),
            _ => Reply::error(404, "no such page"),
        }
    }
}

impl Pages {
    fn params(req: &Request) -> Result<PageParams, Reply> {
        PageParams::try_parse_from(flags(req)).map_err(bad_request)
    }

    fn dashboard(&mut self, req: &Request) -> Reply {
        let p = match Self::params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let filter = p.filter.filter();
        let mut words = Vec::new();
        for (k, v) in [("reporter", &filter.org), ("domain", &filter.domain)] {
            if let Some(v) = v {
                words.push((k.to_string(), v.clone()));
            }
        }
        if let Some(ip) = filter.ip {
            words.push(("IP".to_string(), ip.to_string()));
        }
        let gather = overview::Request {
            window: p.window.window(Some(7)),
            filter: &filter,
            filter_words: words,
            settings: &self.settings,
            now: chrono::Utc::now().timestamp(),
            rows: p.filter.limit.map_or(overview::ROWS, |n| n as usize),
        };
        let mut report = match overview::gather(&self.store, &gather) {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
        report.links = Some(Links {
            query: carried(req),
        });
        let form = FilterForm {
            days: req.param("days").unwrap_or_default().to_string(),
            since: req.param("since").unwrap_or_default().to_string(),
            until: req.param("until").unwrap_or_default().to_string(),
            domain: req.param("domain").unwrap_or_default().to_string(),
            org: req.param("org").unwrap_or_default().to_string(),
            ip: req.param("ip").unwrap_or_default().to_string(),
        };
        Reply::html(page::dashboard_html(&report, &form))
    }

    fn source(&mut self, req: &Request) -> Reply {
        let p = match Self::params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(ip) = req.param("ip") else {
            return Reply::error(400, "which source? (ip=...)");
        };
        let w = p.window.window(Some(7));
        let label = label(&p.window, Some(7));
        let links = Links {
            query: carried(req),
        };
        match self.store.source_records(
            ip,
            w.since.unwrap_or(i64::MIN),
            w.until.unwrap_or(i64::MAX),
            RECORDS,
        ) {
            Ok(rows) => Reply::html(page::drill::source_page(ip, &label, &rows, &links)),
            Err(e) => internal(e),
        }
    }

    fn report(&mut self, req: &Request) -> Reply {
        let Some(id) = req.param("id").and_then(|v| v.parse::<i64>().ok()) else {
            return Reply::error(400, "which report? (id=N)");
        };
        let links = Links {
            query: carried(req),
        };
        match self.store.report_detail(id, RECORDS) {
            Ok(Some(d)) => Reply::html(page::drill::report_page(&d, &links)),
            Ok(None) => Reply::error(404, "no such report"),
            Err(e) => internal(e),
        }
    }

    fn api(&mut self, view: &str, req: &Request) -> Reply {
        let mut argv = vec![view.to_string(), "--format".into(), "json".into()];
        argv.extend(flags(req));
        let args = match ApiParams::try_parse_from(argv) {
            Ok(a) => a.query,
            Err(e) => return bad_request(e),
        };
        let mut out = Vec::new();
        match write_query(&self.store, &self.settings, &args, false, &mut out) {
            Ok(_) => Reply::json(String::from_utf8_lossy(&out).into_owned()),
            Err(e) => internal(e),
        }
    }
}
