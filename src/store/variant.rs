//! Conflicting copies: an input with the identity key of a stored report
//! (see `schema.sql`) but different content.
//!
//! A copy that only differs in its container or its bytes (whitespace,
//! attribute order, another compression) is the same report: a duplicate.
//! A copy whose *parsed* content differs conflicts. Neither copy is thrown
//! away: one is the report, the other is kept byte for byte in
//! `report_variant`. Which one is the report: a copy whose markup needed no
//! repair ([`ReportReader::repair`]) wins over one that did, whichever
//! arrived first; between two clean (or two repaired) copies the one stored
//! first stays, so re-ingesting never flips a report back and forth.

use std::io::Read;

use crate::model::{Record, ReportHeader};
use crate::parse::{ParseError, ReportReader};

/// One whole copy of a report, read for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCopy {
    pub header: ReportHeader,
    pub records: Vec<Record>,
    /// The first repair its markup needed, if any.
    pub repair: Option<String>,
}

impl ReportCopy {
    /// Reads a whole copy from its XML (decompressed).
    pub fn read(xml: impl Read) -> Result<ReportCopy, ParseError> {
        let mut rdr = ReportReader::new(xml);
        let header = rdr.header()?;
        let mut records = Vec::new();
        while let Some(r) = rdr.next_record()? {
            records.push(r);
        }
        if records.is_empty() {
            return Err(ParseError::NotAReport("no <record> elements".into()));
        }
        let repair = rdr.repair().map(str::to_string);
        Ok(ReportCopy {
            header,
            records,
            repair,
        })
    }

    /// Same header and records, field for field.
    pub fn same_content(&self, other: &ReportCopy) -> bool {
        self.header == other.header && self.records == other.records
    }
}

/// What to do with a new copy of a stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The same report: an ordinary duplicate.
    Same,
    /// Conflicting; the stored copy stays the report, the new one becomes a
    /// variant.
    KeepStored,
    /// Conflicting; the new copy (clean) becomes the report, the stored one
    /// (which needed repair) becomes a variant.
    Replace,
}

/// Judges `new` against `stored`; see the module doc.
pub fn judge(stored: &ReportCopy, new: &ReportCopy) -> Verdict {
    if stored.same_content(new) {
        Verdict::Same
    } else if stored.repair.is_some() && new.repair.is_none() {
        Verdict::Replace
    } else {
        Verdict::KeepStored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "<feedback><report_metadata><org_name>x.org</org_name>\
        <email>d@x.org</email><report_id>1</report_id><date_range><begin>0</begin>\
        <end>86399</end></date_range></report_metadata><policy_published>\
        <domain>example.com</domain></policy_published><record><row>\
        <source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>\
        <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>\
        </policy_evaluated></row><identifiers><header_from>example.com</header_from>\
        </identifiers></record></feedback>";

    fn copy(xml: &str) -> ReportCopy {
        ReportCopy::read(xml.as_bytes()).unwrap()
    }

    fn damaged() -> ReportCopy {
        copy(&CLEAN.replace(
            "<header_from>example.com</header_from>",
            "<header_from>exa<mple.com</header_from>",
        ))
    }

    #[test]
    fn bytes_that_parse_alike_are_the_same_report() {
        let spaced = CLEAN.replace("><", ">\n  <");
        assert_eq!(judge(&copy(CLEAN), &copy(&spaced)), Verdict::Same);
    }

    #[test]
    fn a_clean_copy_wins_whichever_arrives_first() {
        let (clean, damaged) = (copy(CLEAN), damaged());
        assert!(clean.repair.is_none() && damaged.repair.is_some());
        assert_eq!(judge(&damaged, &clean), Verdict::Replace);
        assert_eq!(judge(&clean, &damaged), Verdict::KeepStored);
    }

    #[test]
    fn between_equals_the_first_stays() {
        let other = copy(&CLEAN.replace("<count>3</count>", "<count>4</count>"));
        assert_eq!(judge(&copy(CLEAN), &other), Verdict::KeepStored);
        assert_eq!(judge(&other, &copy(CLEAN)), Verdict::KeepStored);
        let damaged2 = copy(&CLEAN.replace(
            "<header_from>example.com</header_from>",
            "<header_from>ex<ample.com</header_from>",
        ));
        assert_eq!(judge(&damaged(), &damaged2), Verdict::KeepStored);
    }
}
