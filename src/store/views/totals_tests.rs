//! The reports' stored sums answer what summing their records answers.

use super::super::{Filter, Scope, Window};
use crate::config::{parse_net, OurNets};
use crate::extract::Limits;
use crate::generate::CorpusSpec;
use crate::store::Store;

/// A store with a few days of generated reports from three reporters.
fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    for p in CorpusSpec::for_tests(5, 12, 40, 4).payloads() {
        s.store_report(&p, &Limits::default(), "t").unwrap();
    }
    s
}

/// `orgs` and `daily` read the reports' sums without a filter on the
/// records; with one that keeps every record (all addresses) they join
/// and sum the records: the answers are the same.
#[test]
fn report_sums_equal_record_sums() {
    let s = store();
    let nets = OurNets::new(vec![]);
    let whole = Filter::default();
    let every = Filter {
        ip: Some(parse_net("::/0").unwrap()),
        ..Filter::default()
    };
    let scope = |filter| Scope {
        window: Window {
            since: Some(1_738_022_400), // 2025-01-28
            until: Some(1_738_281_600), // 2025-01-31
        },
        filter,
        nets: &nets,
        limit: None,
    };
    let (a, b) = (scope(&whole), scope(&every));
    assert!(super::whole_reports(&a) && !super::whole_reports(&b));
    let orgs = s.org_rows(&a).unwrap();
    assert_eq!(orgs.len(), 3, "{orgs:?}");
    assert_eq!(orgs, s.org_rows(&b).unwrap());
    let days = 20_113..20_120;
    let mut spans = s.report_spans(&a, days.clone()).unwrap();
    let mut joined = s.report_spans(&b, days).unwrap();
    assert!(spans.len() >= 9, "{spans:?}");
    spans.sort_by_key(|r| (r.date_begin, r.date_end, r.messages));
    joined.sort_by_key(|r| (r.date_begin, r.date_end, r.messages));
    assert_eq!(spans, joined);
}
