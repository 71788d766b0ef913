//! The window reads a record's tags one after another while each is the
//! one expected (the open element's end, or the start tag that followed
//! the same event last time), and leaves anything else to its loop. These
//! documents repeat one record until the guesses hold, then break the
//! pattern at every kind of place: they must read as quick-xml reads them.

use super::window::{outcomes, quick_xml_outcomes};
use super::*;
use crate::parse::window::Goal;

/// A record in the usual layout, indented; `{}` marks where a variant
/// changes it.
const RECORD: &str = "<record>
    <row>
      <source_ip>192.0.2.9</source_ip>
      <count>1</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>pass</dkim>
        <spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>a.example</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>a.example</domain>
        <result>pass</result>
      </dkim>
    </auth_results>
  </record>
  ";

/// Changes of one record: text where indentation was, text in a record
/// or a container, odd and unexpected tags, references, empty values.
const VARIANTS: &[(&str, &str)] = &[
    ("<row>\n", "<row>text\n"),
    ("<row>\n", "<row>\n  text  "),
    ("</source_ip>\n", "</source_ip> tail "),
    ("<count>1</count>", "<count>1</count>\n<count>2</count>"),
    ("<count>1</count>", "<count></count>"),
    ("<count>1</count>", "<count>1</source_ip>"),
    ("<count>1</count>", "<count>&#49;</count>"),
    ("<count>1</count>", "<count>1</count >"),
    ("<count>1</count>", "<count>1<count>2</count></count>"),
    ("</policy_evaluated>", "</policy_evaluated >"),
    ("</policy_evaluated>", "</row>"),
    ("<identifiers>", "<identifiers/><identifiers>"),
    ("<identifiers>", "<identifier>"),
    ("<record>\n", "<record>r&amp;"),
    ("<record>\n", "<record>abc</record><record>\n"),
    ("<dkim>\n", "<dkim>\n<!-- c -->"),
    ("<result>pass</result>", "<result>pass</result><?pi?>"),
    ("<result>pass</result>", "<result><![CDATA[pass]]></result>"),
    ("</auth_results>", ""),
    ("\n", "\r\n"),
];

#[test]
fn records_read_tag_after_tag_read_as_quick_xml_does() {
    let normal = RECORD.repeat(3);
    for (from, to) in VARIANTS {
        assert!(RECORD.contains(from), "{from}");
        let changed = RECORD.replacen(from, to, 1);
        let records = [normal.as_str(), &changed, &normal, &changed].concat();
        let doc = MINIMAL.replacen("<record>", &format!("{records}<record>"), 1);
        let expected = quick_xml_outcomes(doc.as_bytes());
        // The header, the three records before the change, and more.
        assert!(expected.len() >= 5, "{expected:?}");
        for capacity in [16, 23, 64, 100, 257, 4096, 64 * 1024] {
            let mut rdr = ReportReader::with_capacity(doc.as_bytes(), capacity);
            assert_eq!(outcomes(&mut rdr), expected, "{to:?}, capacity {capacity}");
        }
    }
}

#[test]
fn each_goal_is_reached_once_the_builder_is_past_its_phase() {
    let mut b = Builder::new();
    for (phase, header, records) in [
        (Phase::Header, false, false),
        (Phase::Records, true, false),
        (Phase::Done, true, true),
    ] {
        b.phase = phase;
        assert_eq!(Goal::Header.reached(&b), header, "{phase:?}");
        assert_eq!(Goal::Records.reached(&b), records, "{phase:?}");
    }
}
