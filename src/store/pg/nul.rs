//! PostgreSQL's `text` cannot hold a NUL character, which SQLite's can and
//! report text (attacker-controlled) may carry. Loaded as it is, such a
//! value failed the whole transaction — every report of the group, and the
//! run — and the same input failed every run after. So a report with one is
//! refused before anything of it is written, naming the field: it is
//! quarantined like any bad input and the run goes on. The messages dmarcdb
//! writes itself (a quarantined input's name and reason) are kept with the
//! NUL shown as U+FFFD instead.

use std::borrow::Cow;

use crate::model::{Record, ReportHeader, Str};
use crate::parse::ParseError;

/// A plain loop, inlined: the values are short, and `contains` (a call
/// to memchr per value) cost 900 instructions a record.
fn has_nul(s: &str) -> bool {
    s.bytes().any(|b| b == 0)
}

/// The first of `fields` (name, value) holding a NUL, as the error.
fn check<'a>(
    fields: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
) -> Result<(), ParseError> {
    match fields.into_iter().find(|(_, v)| v.is_some_and(has_nul)) {
        Some((name, _)) => Err(ParseError::Invalid(format!(
            "a NUL character in {name}, which PostgreSQL cannot store"
        ))),
        None => Ok(()),
    }
}

/// Refuses a header (or its input's name, `source`) holding a NUL.
pub fn header(h: &ReportHeader, source: &str) -> Result<(), ParseError> {
    let (m, p) = (&h.metadata, &h.policy);
    let errors = m.errors.iter().map(|e| ("<error>", Some(e.as_str())));
    check(
        [
            ("the input's name", Some(source)),
            ("<org_name>", Some(m.org_name.as_str())),
            ("<email>", Some(m.email.as_str())),
            ("<extra_contact_info>", m.extra_contact_info.as_deref()),
            ("<report_id>", Some(m.report_id.as_str())),
            ("<generator>", m.generator.as_deref()),
            ("<version>", h.version.as_deref()),
            ("the XML namespace", h.namespace.as_deref()),
            ("<policy_published><domain>", Some(p.domain.as_str())),
            ("<adkim>", p.adkim.as_deref()),
            ("<aspf>", p.aspf.as_deref()),
            ("<p>", p.p.as_deref()),
            ("<sp>", p.sp.as_deref()),
            ("<np>", p.np.as_deref()),
            ("<fo>", p.fo.as_deref()),
            ("<testing>", p.testing.as_deref()),
            ("<discovery_method>", p.discovery_method.as_deref()),
        ]
        .into_iter()
        .chain(errors),
    )
}

/// Refuses a record holding a NUL in any of its values: a plain test of
/// every value first (on every record), the field named only when found.
pub fn record(r: &Record) -> Result<(), ParseError> {
    let opt = |o: &Option<Str>| o.as_deref().is_some_and(has_nul);
    let (pe, ids) = (&r.policy_evaluated, &r.identifiers);
    let found = has_nul(&r.source_ip)
        || has_nul(pe.disposition.as_str())
        || has_nul(pe.dkim.as_str())
        || has_nul(pe.spf.as_str())
        || has_nul(&ids.header_from)
        || opt(&ids.envelope_from)
        || opt(&ids.envelope_to)
        || pe
            .reasons
            .iter()
            .any(|o| has_nul(&o.kind) || opt(&o.comment))
        || r.dkim.iter().any(|d| {
            has_nul(&d.domain)
                || opt(&d.selector)
                || has_nul(d.result.as_str())
                || opt(&d.human_result)
        })
        || r.spf.iter().any(|s| {
            has_nul(&s.domain)
                || opt(&s.scope)
                || has_nul(s.result.as_str())
                || opt(&s.human_result)
        });
    if found {
        named(r)
    } else {
        Ok(())
    }
}

/// The error naming `r`'s first field with a NUL.
fn named(r: &Record) -> Result<(), ParseError> {
    let pe = &r.policy_evaluated;
    let ids = &r.identifiers;
    check([
        ("<source_ip>", Some(r.source_ip.as_str())),
        ("<disposition>", Some(pe.disposition.as_str())),
        ("<policy_evaluated><dkim>", Some(pe.dkim.as_str())),
        ("<policy_evaluated><spf>", Some(pe.spf.as_str())),
        ("<header_from>", Some(ids.header_from.as_str())),
        ("<envelope_from>", ids.envelope_from.as_deref()),
        ("<envelope_to>", ids.envelope_to.as_deref()),
    ])?;
    check(pe.reasons.iter().flat_map(|o| {
        [
            ("<reason><type>", Some(o.kind.as_str())),
            ("<reason><comment>", o.comment.as_deref()),
        ]
    }))?;
    check(r.dkim.iter().flat_map(|d| {
        [
            ("<dkim><domain>", Some(d.domain.as_str())),
            ("<dkim><selector>", d.selector.as_deref()),
            ("<dkim><result>", Some(d.result.as_str())),
            ("<dkim><human_result>", d.human_result.as_deref()),
        ]
    }))?;
    check(r.spf.iter().flat_map(|s| {
        [
            ("<spf><domain>", Some(s.domain.as_str())),
            ("<spf><scope>", s.scope.as_deref()),
            ("<spf><result>", Some(s.result.as_str())),
            ("<spf><human_result>", s.human_result.as_deref()),
        ]
    }))
}

/// `s` with each NUL as U+FFFD, for text dmarcdb writes about an input.
pub fn shown(s: &str) -> Cow<'_, str> {
    if has_nul(s) {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}
