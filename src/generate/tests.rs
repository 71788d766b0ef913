//! Generator tests: determinism, and that every format reads back as the
//! records the spec describes.

use std::io::Read;

use mail_parser::{Encoding, MessageParser, MimeHeaders};

use super::eml::base64_lines;
use super::*;
use crate::parse::parse_all;

fn corpus(seed: u64, reports: u64, records: usize) -> CorpusSpec {
    CorpusSpec {
        reports,
        records,
        seed,
        end_date: NaiveDate::from_ymd_opt(2025, 1, 31).unwrap(),
        days_back: 30,
        domain: "Example.com".into(),
    }
}

fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn same_seed_same_bytes_in_every_format() {
    for format in [Format::Xml, Format::Gz, Format::Zip, Format::Eml] {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let w = write_corpus(&corpus(7, 4, 20), format, a.path()).unwrap();
        write_corpus(&corpus(7, 4, 20), format, b.path()).unwrap();
        write_corpus(&corpus(8, 4, 20), format, c.path()).unwrap();
        assert_eq!(w.files, 4);
        assert_eq!(w.records, 80);
        let (fa, fb, fc) = (files_in(a.path()), files_in(b.path()), files_in(c.path()));
        assert_eq!(fa.len(), 4, "{format:?}");
        assert_eq!(fa, fb, "{format:?}");
        assert_eq!(w.bytes, fa.iter().map(|(_, d)| d.len() as u64).sum::<u64>());
        assert_ne!(fa, fc, "{format:?}: another seed must give other reports");
    }
}

#[test]
fn xml_parses_back_to_the_spec_for_every_reporter() {
    let c = corpus(42, 3, 250);
    for i in 0..3 {
        let spec = c.report(i);
        let xml = report_xml(&spec);
        let (h, recs) = parse_all(xml.as_bytes()).unwrap();
        assert_eq!(recs.len(), 250, "{:?}", spec.reporter);
        assert_eq!(h.metadata.org_name, spec.reporter.org_name());
        assert_eq!(h.metadata.report_id, spec.report_id);
        assert_eq!(h.metadata.date_begin, spec.date_begin);
        assert_eq!(h.metadata.date_end, spec.date_end());
        assert_eq!(h.policy.domain, "example.com");
        assert_eq!(h.policy.p.as_deref(), Some("reject"));
        let expected: Vec<Record> = spec.records().collect();
        assert_eq!(recs, expected, "{:?}", spec.reporter);
    }
}

#[test]
fn report_spec_new_gives_the_requested_record_count() {
    let spec = ReportSpec::new(3, 1000);
    let (_, recs) = parse_all(report_xml(&spec).as_bytes()).unwrap();
    assert_eq!(recs.len(), 1000);
    assert_eq!(report_xml(&spec), report_xml(&ReportSpec::new(3, 1000)));
}

#[test]
fn records_look_like_real_traffic() {
    let spec = ReportSpec::new(9, 5000);
    let recs: Vec<Record> = spec.records().collect();
    let ours = |r: &Record| {
        r.source_ip.starts_with("203.0.113.") || r.source_ip.starts_with("2001:db8:1:")
    };
    let (mine, strangers): (Vec<&Record>, Vec<&Record>) = recs.iter().partition(|r| ours(r));
    let pass_rate =
        |v: &[&Record]| v.iter().filter(|r| r.dmarc_pass()).count() as f64 / v.len() as f64;
    assert!((0.6..0.8).contains(&(mine.len() as f64 / recs.len() as f64)));
    assert!(pass_rate(&mine) > 0.9, "ours mostly pass");
    assert!(pass_rate(&strangers) < 0.1, "strangers mostly fail");
    assert!(
        recs.iter().any(|r| r.dkim.len() >= 2),
        "several DKIM results per record"
    );
    assert!(
        recs.iter().any(|r| !r.policy_evaluated.reasons.is_empty()),
        "an override now and then"
    );
    assert!(recs.iter().any(|r| r.source_ip.contains(':')), "some IPv6");
    assert!(strangers
        .iter()
        .any(|r| r.source_ip.starts_with("198.51.100.")));
}

#[test]
fn corpus_spreads_reports_over_days_with_unique_names() {
    let c = corpus(1, 90, 1);
    let specs: Vec<ReportSpec> = (0..90).map(|i| c.report(i)).collect();
    let mut days: Vec<i64> = specs.iter().map(|s| s.date_begin).collect();
    days.sort();
    days.dedup();
    assert_eq!(days.len(), 30);
    assert_eq!(*days.last().unwrap(), 1_738_281_600, "2025-01-31");
    let mut stems: Vec<String> = specs.iter().map(|s| s.file_stem()).collect();
    stems.sort();
    stems.dedup();
    assert_eq!(stems.len(), 90);
}

#[test]
fn gz_and_zip_hold_the_xml() {
    let spec = corpus(5, 1, 30).report(0);
    let xml = report_xml(&spec);
    let mut gz = Vec::new();
    write_gz(&spec, &mut gz).unwrap();
    let mut out = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, xml);
    let mut z = io::Cursor::new(Vec::new());
    write_zip(&spec, &mut z).unwrap();
    let mut archive = zip::ZipArchive::new(z).unwrap();
    assert_eq!(archive.len(), 1);
    let mut member = archive.by_index(0).unwrap();
    assert_eq!(member.name(), format!("{}.xml", spec.file_stem()));
    out.clear();
    member.read_to_string(&mut out).unwrap();
    assert_eq!(out, xml);
}

#[test]
fn eml_is_a_mail_with_a_base64_attachment() {
    let c = corpus(11, 2, 40);
    for i in 0..2 {
        let spec = c.report(i);
        let eml = report_eml(&spec).unwrap();
        // RFC 5322 §2.1.1: CRLF line ends, lines of at most 998 characters.
        let text = std::str::from_utf8(&eml).unwrap();
        assert!(text
            .split("\r\n")
            .all(|l| l.len() <= 998 && !l.contains('\n')));
        let msg = MessageParser::default().parse(&eml).unwrap();
        assert!(msg.subject().unwrap().contains(&spec.report_id));
        assert_eq!(
            msg.from().unwrap().first().unwrap().address(),
            Some(spec.reporter.email())
        );
        assert_eq!(msg.attachment_count(), 1);
        let part = msg.attachment(0).unwrap();
        assert_eq!(part.encoding, Encoding::Base64);
        let bytes = part.contents();
        let mut xml = String::new();
        if spec.reporter == Reporter::Google {
            assert_eq!(part.content_type().unwrap().subtype(), Some("zip"));
            let mut a = zip::ZipArchive::new(io::Cursor::new(bytes.to_vec())).unwrap();
            a.by_index(0).unwrap().read_to_string(&mut xml).unwrap();
        } else {
            assert_eq!(part.content_type().unwrap().subtype(), Some("gzip"));
            flate2::read::GzDecoder::new(bytes)
                .read_to_string(&mut xml)
                .unwrap();
        }
        assert_eq!(xml, report_xml(&spec));
    }
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (input, want) in [
        ("", ""),
        ("f", "Zg==\r\n"),
        ("fo", "Zm8=\r\n"),
        ("foo", "Zm9v\r\n"),
        ("foob", "Zm9vYg==\r\n"),
        ("fooba", "Zm9vYmE=\r\n"),
        ("foobar", "Zm9vYmFy\r\n"),
    ] {
        let mut s = String::new();
        base64_lines(input.as_bytes(), &mut s);
        assert_eq!(s, want);
    }
    let mut s = String::new();
    base64_lines(&[0u8; 100], &mut s);
    assert_eq!(s.lines().next().unwrap().len(), 76);
}

#[test]
fn rng_is_stable() {
    // splitmix64's published first outputs for seed 0.
    let mut r = Rng::new(0);
    assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
}
