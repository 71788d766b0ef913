//! Generate: a deterministic corpus of synthetic aggregate reports, for the
//! benchmark (`bench/run.sh`) and for tests (`dmarcdb generate`, a hidden
//! subcommand).
//!
//! The same seed gives the same bytes, on any machine: a small splitmix64
//! generator drives every choice, gzip headers carry no time stamp and zip
//! members carry the report's own date.
//!
//! The reports are shaped like what the big reporters send (element order,
//! identifiers, date ranges and file names as seen in real reports):
//! - Google (`google.com`): `<dkim>` as domain/result/selector, no SPF
//!   scope, identifiers with `header_from` only, a range of 00:00:00 to
//!   23:59:59; mailed as `application/zip`;
//! - Microsoft (`Microsoft Corporation (Outlook.com)`): `<version>`, the
//!   xsd/xsi namespace declarations, `envelope_to`/`envelope_from`, SPF with
//!   `<scope>mfrom</scope>`, a range of 00:00 to 00:00 the next day; mailed
//!   as `application/gzip`;
//! - Yahoo: a `<seconds>.<micros>` report id, mailed as gzip.
//!
//! Records: about 70 % come from "our" senders (203.0.113.0/24 and
//! 2001:db8:1::/48), which mostly pass and often carry a second DKIM
//! signature from an ESP; the rest come from strangers (198.51.100.0/24 and
//! random public-looking addresses), which mostly fail and are rejected.
//! Now and then a failing record carries an override reason (forwarded,
//! `local_policy` with `arc=pass`, mailing_list).
//!
//! This module writes files and returns what it wrote; it prints nothing.
//! What the records say is in `records`, how each reporter writes them in
//! `xml`, the mail form in `eml`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

use crate::model::Record;

mod eml;
mod records;
mod xml;

pub use eml::report_eml;

/// A small, fast, well-mixed PRNG (splitmix64): enough for test data, and
/// stable forever, unlike a crate's generator that may change between
/// versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Derives item `i`'s random seed from a corpus seed.
fn mix(seed: u64, i: u64) -> u64 {
    Rng::new(seed ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain XML (`.xml`).
    Xml,
    /// Gzip-compressed XML (`.xml.gz`), as Microsoft and Yahoo send.
    Gz,
    /// A zip holding one XML file (`.zip`), as Google sends.
    Zip,
    /// An RFC 5322 mail with the report attached in base64 (`.eml`).
    Eml,
}

/// Who sent a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    Google,
    Microsoft,
    Yahoo,
}

impl Reporter {
    const ALL: [Reporter; 3] = [Reporter::Google, Reporter::Microsoft, Reporter::Yahoo];

    pub fn org_name(self) -> &'static str {
        match self {
            Reporter::Google => "google.com",
            Reporter::Microsoft => "Microsoft Corporation (Outlook.com)",
            Reporter::Yahoo => "Yahoo",
        }
    }

    pub fn email(self) -> &'static str {
        match self {
            Reporter::Google => "noreply-dmarc-support@google.com",
            Reporter::Microsoft => "dmarcreport@microsoft.com",
            Reporter::Yahoo => "dmarchelp@yahooinc.com",
        }
    }

    /// The receiver part of the file name (RFC 7489 §7.2.1.1).
    fn receiver(self) -> &'static str {
        match self {
            Reporter::Google => "google.com",
            Reporter::Microsoft => "protection.outlook.com",
            Reporter::Yahoo => "yahoo.com",
        }
    }

    /// Google ends a day at 23:59:59, Microsoft at the next midnight.
    fn date_end(self, begin: i64) -> i64 {
        match self {
            Reporter::Microsoft => begin + 86_400,
            _ => begin + 86_399,
        }
    }

    fn report_id(self, rng: &mut Rng, index: u64, begin: i64) -> String {
        match self {
            // Google: a large decimal number.
            Reporter::Google => format!("{}{:06}", rng.below(10_000_000_000_000), index),
            // Microsoft: 32 hex digits.
            Reporter::Microsoft => {
                let (hi, lo) = (rng.next_u64(), rng.next_u64() as u32);
                format!("{hi:016x}{lo:08x}{:08x}", index as u32)
            }
            Reporter::Yahoo => format!("{}.{:06}", begin + 86_400 + 2, index % 1_000_000),
        }
    }
}

/// One report to generate. Everything in it follows from its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    /// Seed of the records' random choices.
    pub seed: u64,
    pub reporter: Reporter,
    pub report_id: String,
    pub policy_domain: String,
    /// Start of the day reported on (seconds since the epoch).
    pub date_begin: i64,
    pub records: usize,
    /// The report's place in its corpus (the file name's unique id).
    pub index: u64,
}

impl ReportSpec {
    /// A Google-shaped report for `example.com` on 2025-01-01; for tests.
    pub fn new(seed: u64, records: usize) -> ReportSpec {
        let mut rng = Rng::new(seed);
        let date_begin = 1_735_689_600;
        ReportSpec {
            seed: rng.next_u64(),
            reporter: Reporter::Google,
            report_id: Reporter::Google.report_id(&mut rng, 0, date_begin),
            policy_domain: "example.com".into(),
            date_begin,
            records,
            index: 0,
        }
    }

    pub fn date_end(&self) -> i64 {
        self.reporter.date_end(self.date_begin)
    }

    /// The file name without extension, as RFC 7489 §7.2.1.1 names it.
    pub fn file_stem(&self) -> String {
        format!(
            "{}!{}!{}!{}!{}",
            self.reporter.receiver(),
            self.policy_domain,
            self.date_begin,
            self.date_end(),
            self.index
        )
    }

    /// The records, as the parser reads them back from [`report_xml`].
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mut rng = Rng::new(self.seed);
        (0..self.records)
            .map(move |_| records::record(&mut rng, self.reporter, &self.policy_domain))
    }
}

/// A corpus: `reports` reports of `records` records each.
#[derive(Debug, Clone, clap::Args)]
pub struct CorpusSpec {
    /// Number of reports.
    #[arg(long, default_value_t = 10)]
    pub reports: u64,
    /// Records per report.
    #[arg(long, default_value_t = 100)]
    pub records: usize,
    /// Random seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The last day reported on (UTC).
    #[arg(long, default_value = "2025-01-31", value_name = "YYYY-MM-DD")]
    pub end_date: NaiveDate,
    /// Spread the reports over this many days, ending at --end-date.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub days_back: u32,
    /// The policy domain the reports are about.
    #[arg(long, default_value = "example.com")]
    pub domain: String,
}

impl CorpusSpec {
    /// The tests' corpus: `reports` reports of `records` records about
    /// example.com, over `days_back` days up to 2025-01-31.
    #[cfg(test)]
    pub fn for_tests(seed: u64, reports: u64, records: usize, days_back: u32) -> CorpusSpec {
        CorpusSpec {
            reports,
            records,
            seed,
            end_date: NaiveDate::from_ymd_opt(2025, 1, 31).expect("a valid date"),
            days_back,
            domain: "example.com".into(),
        }
    }

    /// Every report, gzip-compressed, as inputs to store (tests).
    #[cfg(test)]
    pub fn payloads(&self) -> Vec<crate::extract::Payload> {
        (0..self.reports)
            .map(|i| {
                let mut data = Vec::new();
                write_gz(&self.report(i), &mut data).expect("writing to memory");
                crate::extract::Payload {
                    name: format!("r{i}.xml.gz"),
                    data: data.into(),
                    gzip: true,
                    kind: crate::extract::PayloadKind::Aggregate,
                }
            })
            .collect()
    }

    /// Report `i`: reporters take turns, three a day, going back from
    /// `end_date` and wrapping after `days_back` days.
    pub fn report(&self, i: u64) -> ReportSpec {
        let reporter = Reporter::ALL[(i % 3) as usize];
        let day = (i / 3) % u64::from(self.days_back.max(1));
        let end = self
            .end_date
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp());
        let date_begin = end - day as i64 * 86_400;
        let mut rng = Rng::new(mix(self.seed, i));
        ReportSpec {
            seed: rng.next_u64(),
            reporter,
            report_id: reporter.report_id(&mut rng, i, date_begin),
            policy_domain: self.domain.to_ascii_lowercase(),
            date_begin,
            records: self.records,
            index: i,
        }
    }
}

/// `dmarcdb generate`: a corpus and where to write it.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub corpus: CorpusSpec,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Gz)]
    pub format: Format,
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub files: u64,
    pub records: u64,
    pub bytes: u64,
}

/// Writes every report of `corpus` into `dir`, one file each.
pub fn write_corpus(corpus: &CorpusSpec, format: Format, dir: &Path) -> io::Result<Written> {
    fs::create_dir_all(dir)?;
    let mut w = Written::default();
    for i in 0..corpus.reports {
        let spec = corpus.report(i);
        let path = write_report(&spec, format, dir)?;
        w.files += 1;
        w.records += spec.records as u64;
        w.bytes += fs::metadata(&path)?.len();
    }
    Ok(w)
}

/// Writes one report into `dir` in `format`; returns the file's path.
/// XML is streamed, so a huge report never sits in memory uncompressed.
pub fn write_report(spec: &ReportSpec, format: Format, dir: &Path) -> io::Result<PathBuf> {
    let stem = spec.file_stem();
    let path = dir.join(match format {
        Format::Xml => format!("{stem}.xml"),
        Format::Gz => format!("{stem}.xml.gz"),
        Format::Zip => format!("{stem}.zip"),
        Format::Eml => format!("{stem}.eml"),
    });
    let mut file = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
    match format {
        Format::Xml => write_xml(spec, &mut file)?,
        Format::Gz => write_gz(spec, &mut file)?,
        Format::Zip => write_zip(spec, &mut file)?,
        Format::Eml => file.write_all(&report_eml(spec)?)?,
    }
    file.flush()?;
    Ok(path)
}

/// The report's XML as a string.
pub fn report_xml(spec: &ReportSpec) -> String {
    let mut out = Vec::with_capacity(1024 + spec.records * 700);
    // Writing to a Vec cannot fail, and the generator writes only UTF-8.
    let _ = write_xml(spec, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Streams the report's XML into `out`, one record at a time.
pub fn write_xml(spec: &ReportSpec, out: &mut impl Write) -> io::Result<()> {
    let mut s = String::with_capacity(2048);
    xml::header_xml(spec, &mut s);
    out.write_all(s.as_bytes())?;
    for rec in spec.records() {
        s.clear();
        xml::record_xml(spec.reporter, &rec, &mut s);
        out.write_all(s.as_bytes())?;
    }
    out.write_all(b"</feedback>\n")
}

/// Gzip with no file name and a zero time stamp, so the bytes depend on
/// the report only.
pub fn write_gz(spec: &ReportSpec, out: &mut impl Write) -> io::Result<()> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::default());
    write_xml(spec, &mut gz)?;
    gz.finish()?;
    Ok(())
}

/// A zip holding `<stem>.xml`, time-stamped with the report's end.
pub fn write_zip(spec: &ReportSpec, out: &mut (impl Write + Seek)) -> io::Result<()> {
    let end = DateTime::from_timestamp(spec.date_end(), 0)
        .unwrap_or_default()
        .naive_utc();
    let stamp = zip::DateTime::from_date_and_time(
        end.year().clamp(1980, 2107) as u16,
        end.month() as u8,
        end.day() as u8,
        end.hour() as u8,
        end.minute() as u8,
        end.second() as u8,
    )
    .unwrap_or_default();
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(stamp)
        .large_file(spec.records > 1_000_000);
    let mut z = zip::ZipWriter::new(out);
    z.start_file(format!("{}.xml", spec.file_stem()), opts)?;
    write_xml(spec, &mut z)?;
    z.finish()?;
    Ok(())
}
#[cfg(test)]
mod tests;
