//! Window tests: the chunked reader must read every document as
//! quick-xml's own reader over the whole input does, wherever the chunks
//! end, and stay in bounded memory.

use std::io::Read;

use super::*;
use crate::parse::scan::{find, tag_end};

/// Every outcome of reading a report: the header, each record, then the
/// end or the first error (whose text includes its byte position).
pub(super) fn outcomes<R: Read>(rdr: &mut ReportReader<R>) -> Vec<String> {
    let header = format!("{:?}", rdr.header());
    outcomes_of(header, || rdr.next_record())
}

/// `header`, then each record `next` gives, then its end or error.
fn outcomes_of(header: String, mut next: impl FnMut() -> Result<Option<Record>>) -> Vec<String> {
    let mut out = vec![header];
    loop {
        match next() {
            Ok(Some(r)) => out.push(format!("{r:?}")),
            other => {
                out.push(format!("{other:?}"));
                return out;
            }
        }
    }
}

/// The parser as it read before the window: the same builder fed by
/// quick-xml's reader over the whole input, one event at a time.
struct QuickXml<'a> {
    xml: Reader<&'a [u8]>,
    b: Builder,
    records: u64,
}

impl QuickXml<'_> {
    fn step(&mut self) -> Result<()> {
        match self.xml.read_event() {
            Ok(ev) => self.b.event(ev),
            Err(e) => Err(xml_error(e, self.xml.buffer_position())),
        }
    }

    fn header(&mut self) -> Result<ReportHeader> {
        while self.b.phase == Phase::Header {
            self.step()?;
        }
        self.b.validate_header()?;
        Ok(self.b.header.clone())
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.b.ready.pop_front() {
                self.records += 1;
                validate_record(&r, self.records)?;
                return Ok(Some(r));
            }
            if self.b.phase == Phase::Done {
                return Ok(None);
            }
            self.step()?;
        }
    }
}

pub(super) fn quick_xml_outcomes(doc: &[u8]) -> Vec<String> {
    let mut xml = Reader::from_reader(doc);
    configure(&mut xml);
    let mut q = QuickXml {
        xml,
        b: Builder::new(),
        records: 0,
    };
    let header = format!("{:?}", q.header());
    outcomes_of(header, || q.next_record())
}

fn with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from}");
    MINIMAL.replacen(from, to, 1)
}

/// Documents with every construct the window cuts or hands to quick-xml,
/// and the quirks the parser recovers from.
fn tricky_documents() -> Vec<Vec<u8>> {
    let docs = [
        MINIMAL.to_string(),
        format!("\u{feff}{MINIMAL}"),
        with(
            "<feedback>",
            "<!DOCTYPE feedback [<!ENTITY a \"<b>\"> <!-- ] > -->]>\n\
             <?pi a>b?><!-- <record> --><feedback xmlns=\"urn:x\" note='a>b' q=\"c'd\">",
        ),
        with(
            "<selector>s1</selector>",
            "<selector><![CDATA[<x> ]] ]>]]>&amp;<![CDATA[]]></selector>",
        ),
        with(
            "<org_name>google.com</org_name>",
            "<org_name>M\u{fc}ller &amp; S\u{f6}hne &lol; &#233;&#xE9;\u{2019}</org_name>",
        ),
        with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<?xml version='1.0' encoding='ISO-8859-1'?>",
        ),
        with("<record>", "<d:record xmlns:d='urn:d'>").replacen("</record>", "</d:record >", 1),
        with("<selector>s1</selector>", "<selector/><selector />"),
        with("<spf><domain>", "<spf/><x/><spf ><domain>"),
        with("<record>", "<record/><record>"),
        with("</policy_published>", "</policy_published><record/>"),
        with("<email>noreply", "<email><bad@x></email><email>noreply"),
        with(
            "<header_from>example.com</header_from>",
            "<header_from>bad<xml.net</header_from>",
        ),
        with("</row>", "</ row></row ></><>"),
        with("</row>", "</record<x>"),
        with("<identifiers>", "<identifiers a='>' b=\"'>\">"),
        with("</feedback>", "</feedback>trailing <<< &"),
        with("<feedback>", "<xs:schema xmlns:xs='urn:xs'><feedback>"),
        with("<count>3</count>", "<count>\r\n\t 3 \r\n</count>"),
        with("<record>", "<!x><record>"),
        with("<record>", "<!DOCTYPE><record>"),
        with("<record>", "<?><record>"),
        with("<record>", "<record><record>"),
        // One end tag closing two records: the outer one, emptied when the
        // inner one began, is what it completes.
        with("<record>", "<record><record>").replacen("</record>", "", 1),
        with("<record>", "<!-- unclosed <record>"),
    ];
    let mut docs: Vec<Vec<u8>> = docs.into_iter().map(String::into_bytes).collect();
    // Not UTF-8: a windows-1252 quote.
    let mut cp1252 = MINIMAL.as_bytes().to_vec();
    let at = MINIMAL.find("<header_from>").unwrap() + "<header_from>".len();
    cp1252.insert(at, 0x91);
    docs.push(cp1252);
    for cut in [1, 7, 120, 300, 460, 700, MINIMAL.len() - 5] {
        docs.push(MINIMAL.as_bytes()[..cut].to_vec());
    }
    docs
}

#[test]
fn window_reads_as_quick_xml_does_at_any_chunk_size() {
    for doc in tricky_documents() {
        let expected = quick_xml_outcomes(&doc);
        for capacity in (16..=96).chain([100, 257, 1000, 4096, 64 * 1024]) {
            let mut rdr = ReportReader::with_capacity(doc.as_slice(), capacity);
            assert_eq!(
                outcomes(&mut rdr),
                expected,
                "capacity {capacity}: {}",
                String::from_utf8_lossy(&doc)
            );
        }
    }
}

/// A reader that returns the first `first` bytes alone, then the rest as
/// asked: the chunk boundary falls at that byte.
struct SplitAt<'a> {
    data: &'a [u8],
    first: usize,
}

impl Read for SplitAt<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.first {
            0 => out.len().min(self.data.len()),
            k => out.len().min(k).min(self.data.len()),
        };
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.first = self.first.saturating_sub(n);
        Ok(n)
    }
}

/// Every record, every tag and every text field (a multi-byte character,
/// an entity, a CDATA section) split across two chunks at every byte.
#[test]
fn a_chunk_boundary_at_every_byte_reads_the_same() {
    let docs = [
        MINIMAL.to_string(),
        with(
            "<org_name>google.com</org_name>",
            "<org_name>M\u{fc}ller &amp; S\u{f6}hne</org_name>",
        ),
        with(
            "<selector>s1</selector>",
            "<selector><![CDATA[a<b]]> \u{2019}</selector><!-- x -->",
        ),
    ];
    for doc in docs.map(String::into_bytes) {
        let expected = quick_xml_outcomes(&doc);
        for first in 1..doc.len() {
            let split = SplitAt { data: &doc, first };
            let mut rdr = ReportReader::new(split);
            assert_eq!(outcomes(&mut rdr), expected, "split at {first}");
        }
    }
    let doc = with(
        "<org_name>google.com</org_name>",
        "<org_name>M\u{fc}ller &amp; S\u{f6}hne</org_name>",
    );
    let (h, _) = parse_str(&doc).unwrap();
    assert_eq!(h.metadata.org_name, "M\u{fc}ller & S\u{f6}hne");
}

/// A tiny deterministic fuzzer: reports with tokens inserted, bytes
/// deleted and ends cut off, read by the window in chunks of several
/// sizes and by quick-xml over the whole input.
#[test]
fn mutated_reports_read_as_quick_xml_does() {
    const TOKENS: &[&[u8]] = &[
        b"<",
        b">",
        b"</",
        b"/>",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"]]>",
        b"<?",
        b"?>",
        b"<!",
        b"&amp;",
        b"&",
        b";",
        b"'",
        b"\"",
        b"\xEF\xBB\xBF",
        b"\x91",
        b"\xC3",
        b"\xE2\x80\x99",
        b"<record>",
        b"</record>",
        b"<record/>",
        b"<x:row>",
        b"</feedback>",
        b"<dkim>",
        b"</dkim>",
        b"<a b='>'>",
        b" ",
        b"\n",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for _ in 0..400 {
        let mut doc = MINIMAL.as_bytes().to_vec();
        for _ in 0..1 + next(6) {
            let at = next(doc.len() + 1);
            match next(10) {
                0..=6 => {
                    let t = TOKENS[next(TOKENS.len())];
                    doc.splice(at..at, t.iter().copied());
                }
                7 | 8 => {
                    let to = (at + 1 + next(20)).min(doc.len());
                    doc.drain(at..to);
                }
                _ => doc.truncate(at),
            }
        }
        let expected = quick_xml_outcomes(&doc);
        for capacity in [16, 23, 64, 64 * 1024] {
            let mut rdr = ReportReader::with_capacity(doc.as_slice(), capacity);
            assert_eq!(
                outcomes(&mut rdr),
                expected,
                "capacity {capacity}: {}",
                String::from_utf8_lossy(&doc)
            );
        }
    }
}

/// The first record written `<record/>`: the header stops at its start
/// tag, and its end tag is still owed to the records.
#[test]
fn empty_first_record_after_the_header() {
    let xml = with("<record>", "<record/><record>");
    let mut rdr = ReportReader::new(xml.as_bytes());
    assert_eq!(rdr.header().unwrap().metadata.report_id, "123");
    let e = rdr.next_record().unwrap_err();
    assert_eq!(e.to_string(), "invalid report: record 1: empty source_ip");
}

/// A report generated as it is read, never held whole: the head of
/// MINIMAL, its record `records` times, its tail.
struct Endless {
    records: usize,
    stage: u8,
    part: &'static [u8],
}

impl Read for Endless {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.part.is_empty() {
            let head = MINIMAL.find("<record>").unwrap();
            let tail = MINIMAL.find("</feedback>").unwrap();
            self.part = match self.stage {
                0 => {
                    self.stage = 1;
                    &MINIMAL.as_bytes()[..head]
                }
                1 if self.records > 0 => {
                    self.records -= 1;
                    &MINIMAL.as_bytes()[head..tail]
                }
                1 => {
                    self.stage = 2;
                    &MINIMAL.as_bytes()[tail..]
                }
                _ => b"",
            };
        }
        let n = out.len().min(self.part.len());
        out[..n].copy_from_slice(&self.part[..n]);
        self.part = &self.part[n..];
        Ok(n)
    }
}

/// 20,000 records (14 MB) pass through a buffer of a chunk or two.
#[test]
fn a_huge_report_is_streamed_in_a_small_buffer() {
    let input = Endless {
        records: 20_000,
        stage: 0,
        part: b"",
    };
    let mut rdr = ReportReader::new(input);
    rdr.header().unwrap();
    let mut n = 0;
    while let Some(r) = rdr.next_record().unwrap() {
        assert_eq!(r.dkim.len(), 2);
        n += 1;
    }
    assert_eq!(n, 20_000);
    assert!(
        rdr.window.buffer_capacity() <= 2 * 64 * 1024,
        "{}",
        rdr.window.buffer_capacity()
    );
}

/// An event longer than many chunks is parsed again only as it doubles:
/// parsed again after every chunk, this took minutes.
#[test]
fn an_event_of_many_chunks_takes_linear_time() {
    let comment = format!("<!-- {} -->", "<a>".repeat(1 << 20));
    let xml = with("<record>", &format!("{comment}<record>"));
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), 64);
    assert_eq!(outcomes(&mut rdr), quick_xml_outcomes(xml.as_bytes()));
}

#[test]
fn find_and_tag_end_agree_with_a_plain_search() {
    let hay = b"ab<c>d'e\"f>g'>h\">i<jklmnopqrstuvwxyz<>";
    for from in 0..hay.len() {
        let h = &hay[from..];
        for to in 0..=h.len() {
            let h = &h[..to];
            let plain = h.iter().position(|c| *c == b'<');
            assert_eq!(find(h, [b'<']), plain, "{from} {to}");
            let mut quote = None;
            let plain_end = h.iter().position(|c| match quote {
                None if *c == b'>' => true,
                None if *c == b'"' || *c == b'\'' => {
                    quote = Some(*c);
                    false
                }
                Some(q) if *c == q => {
                    quote = None;
                    false
                }
                _ => false,
            });
            assert_eq!(tag_end(h), plain_end, "{from} {to}");
        }
    }
}

/// Kept as the parser always read it: when one end tag closes a
/// `<record>` left open around another, the inner record was filled and
/// the outer one emptied when the inner began, and the outer one is what
/// counts, so nothing is completed. (The window hands records out a buffer
/// at a time; this pins that it still completes what it did.)
#[test]
fn one_end_tag_closing_two_records_completes_the_outer_one() {
    let xml = with("<record>", "<record><record>").replacen("</record>", "", 1);
    let mut rdr = ReportReader::new(xml.as_bytes());
    rdr.header().unwrap();
    assert!(rdr.next_record().unwrap().is_none());
}

/// A parsing thread keeps its window's buffer for the next document, with
/// the last document's bytes still in it. A document that is the first
/// part of the one before must read as it does on a fresh thread: ending
/// early, not running on into the stale bytes behind it.
#[test]
fn a_kept_buffer_never_shows_the_last_documents_bytes() {
    let mut whole = MINIMAL.replace("</feedback>", "");
    let record = &MINIMAL[MINIMAL.find("<record>").unwrap()..MINIMAL.find("</feedback>").unwrap()];
    while whole.len() < 16 * 1024 {
        whole.push_str(record);
    }
    whole.push_str("</feedback>");
    let whole = whole.into_bytes();
    let cuts = [whole.len() / 3, whole.len() / 2, whole.len() - 20];
    let fresh: Vec<Vec<String>> = cuts
        .iter()
        .map(|&cut| {
            let part = whole[..cut].to_vec();
            std::thread::spawn(move || outcomes(&mut ReportReader::new(part.as_slice())))
                .join()
                .unwrap()
        })
        .collect();
    for (cut, fresh) in cuts.iter().zip(&fresh) {
        // On this thread: the whole document first, leaving its bytes in
        // the buffer kept, then its first part.
        let full = outcomes(&mut ReportReader::new(whole.as_slice()));
        assert_eq!(full.last().unwrap(), "Ok(None)", "the whole document ends");
        let part = outcomes(&mut ReportReader::new(&whole[..*cut]));
        assert_eq!(&part, fresh, "cut at {cut}");
        assert_ne!(part.last().unwrap(), "Ok(None)", "cut at {cut}: ends early");
    }
}

/// The tag compared first (the open element for an end tag, the start tag
/// that followed the same event last time) is only a guess: records
/// whose shapes differ, and names that start like the guessed one but are
/// not it (longer, with attributes, prefixed, `<x/>`, an end tag with a
/// space), read as quick-xml reads them, at every chunk size.
#[test]
fn a_wrong_guess_of_the_next_tag_reads_as_quick_xml_does() {
    let records = [
        "<auth_results><dkim><domain>a.example</domain></dkim><spf><domain>a.example</domain></spf></auth_results>",
        "<auth_results><spf><domain>b.example</domain></spf><dkim><domain>b.example</domain></dkim></auth_results>",
        "<auth_results><dkimx>1</dkimx><dkim a='1'><domain>c.example</domain></dkim ></auth_results>",
        "<auth_results><d:dkim xmlns:d='urn:d'><domain>d.example</domain></d:dkim><spf/><spf><domain>x</domain><domainx>y</domainx></spf></auth_results>",
    ];
    let mut doc = MINIMAL.replacen("</record>", "</record>\n  <record><row><source_ip>192.0.2.9</source_ip><count>1</count></row>REC</record>", 1);
    for rec in records.iter().chain(records.iter().rev()) {
        let again = doc.replacen("REC", &format!("{rec}</record>\n  <record><row><source_ip>192.0.2.9</source_ip><count>1</count></row>REC"), 1);
        doc = again;
    }
    let doc = doc.replacen("REC", "", 1).into_bytes();
    let expected = quick_xml_outcomes(&doc);
    assert!(expected.len() > 8, "{expected:?}");
    for capacity in (16..=64).chain([100, 257, 4096, 64 * 1024]) {
        let mut rdr = ReportReader::with_capacity(doc.as_slice(), capacity);
        assert_eq!(outcomes(&mut rdr), expected, "capacity {capacity}");
    }
}

/// A [`BlockFeed`] of `size` bytes a block, each in a vec of its own.
struct InBlocks {
    data: Vec<u8>,
    at: usize,
    size: usize,
    back: usize,
}

impl crate::parse::BlockFeed for InBlocks {
    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.at == self.data.len() {
            return Ok(None);
        }
        let n = self.size.min(self.data.len() - self.at);
        // Stale bytes in the headroom, as in a block reused.
        let mut block = vec![b'<'; crate::parse::HEADROOM];
        block.extend_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(Some(block))
    }

    fn give_back(&mut self, _buf: Vec<u8>) {
        self.back += 1;
    }
}

/// Blocks taken whole read as the chunked reader: an event cut off by a
/// block's end carried over into the next one's headroom, or (longer than
/// the headroom) the next block appended to it; error positions alike.
#[test]
fn blocks_taken_whole_read_as_quick_xml_does() {
    let long = "x".repeat(3 * crate::parse::HEADROOM);
    let mut docs = tricky_documents();
    docs.push(with("<org_name>", &format!("<org_name>{long}")).into_bytes());
    docs.push(with("<org_name>", &format!("<org_name {long}='a'>")).into_bytes());
    for doc in docs {
        let expected = quick_xml_outcomes(&doc);
        for size in [1, 2, 7, 16, 100, 1000, 4096, 5000, 64 * 1024] {
            let feed = InBlocks {
                data: doc.clone(),
                at: 0,
                size,
                back: 0,
            };
            let mut rdr = ReportReader::from_blocks(Box::new(feed), 1024);
            assert_eq!(
                outcomes(&mut rdr),
                expected,
                "block {size}: {}",
                String::from_utf8_lossy(&doc)
            );
        }
    }
}

/// The caps on a run without markup hold for blocks too, with their error.
#[test]
fn blocks_keep_the_run_cap() {
    let huge = "x".repeat(crate::parse::MAX_RUN + 1);
    let doc = with("<org_name>", &format!("<org_name>{huge}")).into_bytes();
    let feed = InBlocks {
        data: doc.clone(),
        at: 0,
        size: 64 * 1024,
        back: 0,
    };
    let mut rdr = ReportReader::from_blocks(Box::new(feed), 1024);
    let got = outcomes(&mut rdr);
    assert_eq!(got, outcomes(&mut ReportReader::new(doc.as_slice())));
    assert!(got[0].starts_with("Err("), "{got:?}");
}
