//! The bad-input catalogue: hostile and broken inputs, one test each.
//!
//! Every case puts one bad input next to one good report in a batch
//! directory and runs the built `dmarcdb ingest` over it with a fresh
//! database, then checks what the README's "limits" table promises:
//!
//! - **rejected** cases exit 3 and print one `dmarcdb: rejected <input>:
//!   <reason>` line per failing part, each naming the bad input; nothing of
//!   the bad input is stored; it is kept in `quarantine` (except when
//!   nothing could be read from it: a dangling symlink has no bytes);
//! - **accepted** cases (the input is harmless once the caps and the
//!   no-entity rule apply) exit 0, print no rejection and store exactly
//!   the reports they hold;
//! - in both, the good report is stored, and the child process stays under
//!   256 MiB peak RSS (measured with `wait4`, so per child). Each case is
//!   also meant to take well under 10 s; the time is printed, not asserted,
//!   because the machine is shared.
//!
//! Bombs are built by repeating one compressed chunk, so a 1 GiB expansion
//! costs the test ~1 MB and no time.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

use common::cli::{db_arg, on_postgres};
use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress};
use rusqlite::{params, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_dmarcdb");
const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * MIB;
/// Peak RSS allowed for one `dmarcdb ingest` over a case, in KiB.
const MAX_RSS_KIB: i64 = 256 * 1024;

/// A valid report; `{ID}` is its report_id.
const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>catalogue.example</org_name>
    <email>dmarc@catalogue.example</email>
    <report_id>{ID}</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><p>reject</p></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results>
  </record>
</feedback>
"#;

fn report(id: &str) -> String {
    REPORT.replace("{ID}", id)
}

/// The report `bad` with 300 records: far more XML than extraction
/// inflates to tell a gzip's content (4 KiB), so damage near the end of
/// its gzip is found by the parser.
fn long_report() -> Vec<u8> {
    let xml = report("bad");
    let (start, end) = (
        xml.find("<record>").unwrap(),
        xml.find("</feedback>").unwrap(),
    );
    let records: String = (0..300)
        .map(|i| xml[start..end].replace("192.0.2.1", &format!("192.0.2.{}", i % 250)))
        .collect();
    format!("{}{records}{}", &xml[..start], &xml[end..]).into_bytes()
}

/// The report `bad` with `from` replaced by `to` (which must occur).
fn report_with(from: &str, to: &str) -> Vec<u8> {
    let xml = report("bad");
    assert!(xml.contains(from), "{from}");
    xml.replace(from, to).into_bytes()
}

/// What a case must do.
enum Expect {
    /// Exit 3; `lines` rejection lines, each naming the input, one of them
    /// containing `reason`; nothing stored from the input; quarantined when
    /// `quarantined`.
    Rejected {
        reason: &'static str,
        lines: usize,
        quarantined: bool,
    },
    /// Exit 0, no rejection, `reports` reports stored from the input.
    Accepted { reports: i64 },
}

fn rejected(reason: &'static str) -> Expect {
    Expect::Rejected {
        reason,
        lines: 1,
        quarantined: true,
    }
}

/// Rejected by the source before any byte was read: nothing to keep.
fn unreadable(reason: &'static str) -> Expect {
    Expect::Rejected {
        reason,
        lines: 1,
        quarantined: false,
    }
}

/// The outcome of one run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    max_rss_kib: i64,
    secs: f64,
}

/// Runs `dmarcdb --db DB ARGS` and reaps it with `wait4`, which reports
/// the peak RSS of that child alone. Linux counts in it the high-water mark
/// of the memory the child was spawned from (this test process, recorded at
/// `exec`), so the figure is an upper bound, and the cases build their
/// inputs by streaming to keep this process small.
// The child is reaped by `wait4` below, not by std.
#[allow(clippy::zombie_processes)]
fn run(dir: &Path, db: &Path, args: &[&OsStr]) -> Run {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let start = Instant::now();
    let child = Command::new(BIN)
        .env_remove("DMARCDB_DB")
        .env_remove("DATABASE_URL")
        .arg("--db")
        .arg(db_arg(db))
        .arg("ingest")
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid pointers; `child` is never waited on by std.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let secs = start.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Run {
        code,
        stdout: fs::read_to_string(out_path).unwrap(),
        stderr: fs::read_to_string(err_path).unwrap(),
        max_rss_kib: usage.ru_maxrss,
        secs,
    }
}

fn count(db: &Path, sql: &str, arg: &str) -> i64 {
    if on_postgres() {
        // `?1` is SQLite's spelling; the sums of counts are bigint there.
        let sql = format!("SELECT CAST(({}) AS bigint)", sql.replace("?1", "$1::text"));
        let url = db_arg(db).into_string().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        return c.query_one(&sql, &[&arg]).unwrap().get(0);
    }
    Connection::open(db)
        .unwrap()
        .query_row(sql, params![arg], |r| r.get(0))
        .unwrap()
}

/// Builds the bad input inside the batch directory and returns the name
/// that identifies it in messages and in the `source` columns.
type Build = fn(&Path) -> String;

fn check(case: &str, build: Build, expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    fs::write(batch.join("good.xml"), report("good-report")).unwrap();
    let bad = build(&batch);
    let db = dir.path().join("catalogue.db");
    let r = run(dir.path(), &db, &[batch.as_os_str()]);
    eprintln!(
        "{case}: exit {}, {} KiB peak RSS, {:.2} s",
        r.code, r.max_rss_kib, r.secs
    );
    let context = format!("{case}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.max_rss_kib < MAX_RSS_KIB,
        "{}: {} KiB",
        case,
        r.max_rss_kib
    );
    assert!(!r.stderr.contains("panicked"), "{context}");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("dmarcdb: rejected "))
        .collect();
    // Anything else on stderr would be a message that is not one line per input.
    assert_eq!(lines.len(), r.stderr.lines().count(), "{context}");

    let good = "SELECT count(*) FROM report WHERE report_id = ?1";
    assert_eq!(count(&db, good, "good-report"), 1, "good report: {context}");
    // Reports of every kind (aggregate, SMTP TLS, failure) from the input.
    let from_bad = "SELECT (SELECT count(*) FROM report WHERE source LIKE '%' || ?1 || '%')
        + (SELECT count(*) FROM tls_report WHERE source LIKE '%' || ?1 || '%')
        + (SELECT count(*) FROM failure_report WHERE source LIKE '%' || ?1 || '%')";
    // Nothing half-stored: no policy or failure detail without its report.
    let orphans = "SELECT (SELECT count(*) FROM tls_policy WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM tls_failure WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM tls_report_blob WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM failure_report_blob WHERE report NOT IN (SELECT id FROM failure_report))
        + (SELECT count(*) FROM tls_report WHERE id NOT IN (SELECT report FROM tls_report_blob))
        WHERE ?1 = ?1";
    assert_eq!(count(&db, orphans, ""), 0, "half-stored: {context}");
    let quarantined = "SELECT count(*) FROM quarantine WHERE source LIKE '%' || ?1 || '%'";
    let all_quarantined = "SELECT count(*) FROM quarantine WHERE ?1 = ?1";
    match expect {
        Expect::Rejected {
            reason,
            lines: n,
            quarantined: kept,
        } => {
            assert_eq!(r.code, 3, "{context}");
            assert_eq!(lines.len(), n, "{context}");
            for l in &lines {
                assert!(l.contains(&bad), "line does not name {bad}: {context}");
            }
            assert!(
                lines.iter().any(|l| l.contains(reason)),
                "no line says {reason:?}: {context}"
            );
            assert_eq!(count(&db, from_bad, &bad), 0, "stored: {context}");
            assert_eq!(
                count(&db, "SELECT count(*) FROM report WHERE ?1 = ?1", ""),
                1
            );
            let q = count(&db, quarantined, &bad);
            if kept {
                assert!(q >= 1, "not quarantined: {context}");
            } else {
                assert_eq!(q, 0, "{context}");
            }
            assert_eq!(count(&db, all_quarantined, ""), q, "{context}");
        }
        Expect::Accepted { reports } => {
            assert_eq!(r.code, 0, "{context}");
            assert_eq!(count(&db, from_bad, &bad), reports, "{context}");
            let every_kind =
                "SELECT (SELECT count(*) FROM report) + (SELECT count(*) FROM tls_report)
                + (SELECT count(*) FROM failure_report) WHERE ?1 = ?1";
            assert_eq!(count(&db, every_kind, ""), reports + 1, "{context}");
            assert_eq!(count(&db, all_quarantined, ""), 0, "{context}");
        }
    }
}

/// A valid SMTP TLS report (report-id `bad-tls`) with `from` replaced by
/// `to` (`from` empty: unchanged).
fn tls_with(from: &str, to: &str) -> String {
    let json = r#"{"organization-name":"catalogue.example","report-id":"bad-tls","x":0,
      "date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},
      "policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},
        "summary":{"total-successful-session-count":10,"total-failure-session-count":3},
        "failure-details":[{"result-type":"certificate-expired","failed-session-count":3}]}]}"#;
    if from.is_empty() {
        return json.to_string();
    }
    assert!(json.contains(from), "{from}");
    json.replacen(from, to, 1)
}

/// A failure report mail (RFC 6591) with `from` replaced by `to` in it.
fn arf(from: &str, to: &str) -> String {
    let m = "From: ruf@receiver.example\r\nSubject: failure report\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n\
        --B\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
        --B\r\nContent-Type: message/feedback-report\r\n\r\n\
        Feedback-Type: auth-failure\r\nVersion: 1\r\nSource-IP: 192.0.2.7\r\n\
        Reported-Domain: example.com\r\nAuth-Failure: dmarc\r\n\
        Arrival-Date: Sun, 01 Nov 2026 10:00:00 +0000\r\n\
        --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
        From: someone@example.com\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\
        --B--\r\n";
    assert!(m.contains(from), "{from}");
    m.replacen(from, to, 1)
}

/// One `#[test]` per row: name, builder, expectation.
macro_rules! catalogue {
    ($($name:ident: $build:expr => $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $build, $expect);
            }
        )*
    };
}

/// Writes `bytes` as `batch/name` and returns `name`.
fn put(batch: &Path, name: &str, bytes: &[u8]) -> String {
    fs::write(batch.join(name), bytes).unwrap();
    name.to_string()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A zip of `(name, bytes)` members, deflated, written by the zip crate.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A raw DEFLATE stream of `prefix` then `repeat` copies of `chunk`, and
/// the CRC-32 and length of what it inflates to. The chunk is compressed
/// once and its blocks repeated: each copy starts with a literal, so its
/// back-references stay inside itself, and a sync flush ends it on a byte
/// boundary.
fn deflate_bomb(prefix: &[u8], chunk: &[u8], repeat: usize) -> (Vec<u8>, Crc) {
    let flushed = |data: &[u8]| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        assert_eq!(c.total_in() as usize, data.len());
        out
    };
    let mut stream = flushed(prefix);
    let body = flushed(chunk);
    let mut crc = Crc::new();
    crc.update(prefix);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(chunk);
    for _ in 0..repeat {
        stream.extend_from_slice(&body);
        crc.combine(&chunk_crc);
    }
    // An empty final block.
    let mut end = Compress::new(Compression::best(), false);
    let mut tail = Vec::with_capacity(64);
    end.compress_vec(&[], &mut tail, FlushCompress::Finish)
        .unwrap();
    stream.extend_from_slice(&tail);
    (stream, crc)
}

/// A gzip file around a raw DEFLATE stream.
fn gzip_around(deflate: &[u8], crc: &Crc) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(deflate);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

/// One member of a zip written by hand (for what the zip crate will not
/// write: lying sizes, encryption).
struct RawMember<'a> {
    name: &'a str,
    /// 0 stored, 8 deflated.
    method: u16,
    /// General purpose flags; bit 0 = encrypted.
    flags: u16,
    crc: u32,
    uncompressed: u32,
    data: Vec<u8>,
}

fn raw_zip(members: &[RawMember<'_>]) -> Vec<u8> {
    fn u16le(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn u32le(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        for (v, sig) in [(&mut out, 0x0403_4b50u32), (&mut central, 0x0201_4b50)] {
            u32le(v, sig);
            if sig == 0x0201_4b50 {
                u16le(v, 20); // version made by
            }
            u16le(v, 20); // version needed
            u16le(v, m.flags);
            u16le(v, m.method);
            u16le(v, 0); // time
            u16le(v, 0x5821); // date: 2024-01-01
            u32le(v, m.crc);
            u32le(v, m.data.len() as u32);
            u32le(v, m.uncompressed);
            u16le(v, m.name.len() as u16);
            u16le(v, 0); // extra
            if sig == 0x0201_4b50 {
                u16le(v, 0); // comment
                u16le(v, 0); // disk
                u16le(v, 0); // internal attributes
                u32le(v, 0); // external attributes
                u32le(v, offset);
            }
            v.extend_from_slice(m.name.as_bytes());
        }
        out.extend_from_slice(&m.data);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, members.len() as u16);
    u16le(&mut out, members.len() as u16);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

/// A zip whose only member is a 1 GiB deflate bomb. `lie` declares 1 KiB
/// instead of the real size (declared sizes are not to be trusted).
fn make_zip_bomb(prefix: &[u8], fill: u8, lie: bool) -> Vec<u8> {
    let (data, crc) = deflate_bomb(prefix, &vec![fill; MIB], GIB / MIB);
    raw_zip(&[RawMember {
        name: "report.xml",
        method: 8,
        flags: 0,
        crc: crc.sum(),
        uncompressed: if lie { 1024 } else { crc.amount() },
        data,
    }])
}

/// Traditional PKWARE ("ZipCrypto") encryption of one member, APPNOTE 6.1.
fn zipcrypto(plain: &[u8], crc: u32, password: &[u8]) -> Vec<u8> {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    let crc_byte = |c: u32, b: u8| table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    let mut keys = [0x1234_5678u32, 0x2345_6789, 0x3456_7890];
    let update = |keys: &mut [u32; 3], b: u8| {
        keys[0] = crc_byte(keys[0], b);
        keys[1] = keys[1]
            .wrapping_add(keys[0] & 0xff)
            .wrapping_mul(134_775_813)
            .wrapping_add(1);
        keys[2] = crc_byte(keys[2], (keys[1] >> 24) as u8);
    };
    let stream = |keys: &[u32; 3]| {
        let t = (keys[2] | 2) & 0xffff;
        ((t.wrapping_mul(t ^ 1)) >> 8) as u8
    };
    for &b in password {
        update(&mut keys, b);
    }
    let mut header = [0x5au8; 12];
    header[11] = (crc >> 24) as u8;
    let mut out = Vec::with_capacity(12 + plain.len());
    for &b in header.iter().chain(plain) {
        out.push(b ^ stream(&keys));
        update(&mut keys, b);
    }
    out
}

fn crc_of(bytes: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(bytes);
    c.sum()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for (i, c) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A multipart/mixed mail with `parts` (content type, file name, bytes),
/// base64-encoded, after `boundary_param` in the Content-Type header.
fn mail(boundary_param: &str, parts: &[(&str, String, Vec<u8>)], close: bool) -> Vec<u8> {
    let mut m = format!(
        "From: dmarc@catalogue.example\r\nTo: rua@example.com\r\nSubject: Report\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed{boundary_param}\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nReports attached.\r\n"
    );
    for (ctype, file, bytes) in parts {
        m.push_str(&format!(
            "--B\r\nContent-Type: {ctype}; name=\"{file}\"\r\n\
             Content-Disposition: attachment; filename=\"{file}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        ));
    }
    if close {
        m.push_str("--B--\r\n");
    }
    m.into_bytes()
}

fn lolz_dtd(body: &str) -> String {
    let mut dtd = String::from("<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    format!("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n{dtd}]>\n{body}")
}

catalogue! {
    // --- Containers ---------------------------------------------------
    empty_file: |b| put(b, "bad-empty.xml", b"") => rejected("empty input");
    truncated_gzip: |b| {
        let whole = gz(report("bad").as_bytes());
        put(b, "bad-truncated.xml.gz", &whole[..whole.len() / 2])
    } => rejected("truncated gzip stream");
    gzip_with_wrong_checksum: |b| {
        let mut whole = gz(report("bad").as_bytes());
        let at = whole.len() - 8;
        whole[at] ^= 0xff;
        put(b, "bad-checksum.xml.gz", &whole)
    } => rejected("corrupt gzip stream");
    truncated_gzip_of_a_long_report: |b| {
        let whole = gz(&long_report());
        put(b, "bad-truncated-long.xml.gz", &whole[..whole.len() * 9 / 10])
    } => rejected("truncated gzip stream");
    long_report_gzip_with_wrong_checksum: |b| {
        let mut whole = gz(&long_report());
        let at = whole.len() - 8;
        whole[at] ^= 0xff;
        put(b, "bad-checksum-long.xml.gz", &whole)
    } => rejected("corrupt gzip stream");
    gzip_of_plain_text: |b| put(b, "bad-text.gz", &gz(b"hello, this is not a report\n"))
        => rejected("not a DMARC report: unrecognised gzip content");
    gzip_followed_by_crlf: |b| {
        // Mimecast appends CRLF after the gzip member: accepted.
        let mut bytes = gz(report("bad-crlf").as_bytes());
        bytes.extend_from_slice(b"\r\n");
        put(b, "bad-crlf.xml.gz", &bytes)
    } => Expect::Accepted { reports: 1 };
    corrupt_zip_without_end_record: |b| {
        let whole = zip_of(&[("r.xml", report("bad").as_bytes())]);
        put(b, "bad-corrupt.zip", &whole[..whole.len() - 30])
    } => rejected("corrupt zip archive");
    zip_member_with_wrong_checksum: |b| {
        let xml = report("bad");
        let zip = raw_zip(&[RawMember {
            name: "r.xml",
            method: 0,
            flags: 0,
            crc: crc_of(xml.as_bytes()) ^ 1,
            uncompressed: xml.len() as u32,
            data: xml.into_bytes(),
        }]);
        put(b, "bad-crc.zip", &zip)
    } => rejected("zip member");
    encrypted_zip: |b| {
        let xml = report("bad");
        let crc = crc_of(xml.as_bytes());
        let zip = raw_zip(&[RawMember {
            name: "r.xml",
            method: 0,
            flags: 1,
            crc,
            uncompressed: xml.len() as u32,
            data: zipcrypto(xml.as_bytes(), crc, b"secret"),
        }]);
        put(b, "bad-encrypted.zip", &zip)
    } => rejected("encrypted zip member (password required)");
    empty_zip: |b| put(b, "bad-empty.zip", b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
        => rejected("zip archive has no report member");
    zip_without_report_member: |b| put(b, "bad-readme.zip", &zip_of(&[("README.txt", b"hello")]))
        => rejected("zip archive has no report member");
    zip_with_10001_members: |b| {
        let xml = report("bad");
        let names: Vec<String> = (0..10_001).map(|i| format!("r{i}.xml")).collect();
        let members: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), xml.as_bytes())).collect();
        put(b, "bad-many.zip", &zip_of(&members))
    } => rejected("zip has 10001 members, more than the limit 10000");
    zip_in_zip_in_zip: |b| {
        let inner = zip_of(&[("r.xml", report("bad-nested").as_bytes())]);
        let middle = zip_of(&[("inner.zip", &inner)]);
        put(b, "bad-nested.zip", &zip_of(&[("middle.zip", &middle)]))
    } => Expect::Accepted { reports: 1 };
    containers_nested_deeper_than_8: |b| {
        let mut blob = report("bad").into_bytes();
        for i in 0..10 {
            blob = if i % 2 == 0 { gz(&blob) } else { zip_of(&[("r.gz", &blob)]) };
        }
        put(b, "bad-deep.zip", &blob)
    } => rejected("nested containers deeper than 8");
    zip_bomb: |b| put(b, "bad-bomb.zip", &make_zip_bomb(b"", 0, false))
        => rejected("exceeds the limit");
    zip_bomb_with_lying_size: |b| put(b, "bad-bomb-lying.zip", &make_zip_bomb(b"", 0, true))
        => rejected("not a DMARC report: unrecognised content (first bytes 00 00");
    zip_bomb_of_xml_with_lying_size: |b| {
        let prefix = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>";
        put(b, "bad-bomb-xml.zip", &make_zip_bomb(prefix, b' ', true))
    } => rejected("without markup");
    gzip_bomb: |b| {
        let (deflate, crc) = deflate_bomb(b"", &vec![0; MIB], GIB / MIB);
        put(b, "bad-bomb.gz", &gzip_around(&deflate, &crc))
    } => rejected("not a DMARC report: unrecognised gzip content (first bytes 00 00");
    gzip_bomb_of_xml: |b| {
        let prefix = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>";
        let (deflate, crc) = deflate_bomb(prefix, &vec![b' '; MIB], GIB / MIB);
        put(b, "bad-bomb.xml.gz", &gzip_around(&deflate, &crc))
    } => rejected("without markup");
    gzip_bomb_of_auth_results: |b| {
        // Each `<dkim></dkim>` costs more memory than its 13 bytes of XML.
        let xml = report("bad");
        let head = &xml[..xml.find("<auth_results>").unwrap() + "<auth_results>".len()];
        let chunk = "<dkim></dkim>".repeat(MIB / 13);
        let (deflate, crc) = deflate_bomb(head.as_bytes(), chunk.as_bytes(), GIB / MIB);
        put(b, "bad-bomb-dkim.xml.gz", &gzip_around(&deflate, &crc))
    } => rejected("record 1 holds more than 16777216 bytes");

    // --- Not a report -------------------------------------------------
    xml_that_is_not_a_report: |b| put(b, "bad-html.xml", b"<html><body>hi</body></html>")
        => rejected("no <feedback> element");
    smtp_tls_report_is_stored: |b| put(b, "bad-tlsrpt.json",
        br#"{"organization-name":"Example","policies":[]}"#)
        => Expect::Accepted { reports: 1 };
    json_that_is_not_a_tls_report: |b| put(b, "bad-other.json", br#"{"hello": "world"}"#)
        => rejected("not an SMTP TLS report: JSON without organization-name");
    binary_garbage: |b| put(b, "bad-garbage.bin", &[0x89, b'P', b'N', b'G', 0, 1, 2, 3, 255])
        => rejected("not a DMARC report: unrecognised input");
    truncated_xml: |b| {
        let xml = report("bad");
        put(b, "bad-truncated.xml", &xml.as_bytes()[..xml.find("</feedback>").unwrap()])
    } => rejected("ends before </feedback>");
    no_report_id: |b| put(b, "bad-no-id.xml", &report_with("<report_id>bad</report_id>", ""))
        => rejected("no report_metadata/report_id");
    no_date_range: |b| put(b, "bad-no-range.xml", &report_with(
        "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>", ""))
        => rejected("no report_metadata/date_range");
    no_records: |b| {
        let xml = report("bad");
        let (start, end) = (xml.find("<record>").unwrap(), xml.find("</feedback>").unwrap());
        put(b, "bad-no-records.xml", format!("{}{}", &xml[..start], &xml[end..]).as_bytes())
    } => rejected("no <record> elements");

    // --- Entities -----------------------------------------------------
    billion_laughs: |b| put(b, "bad-lolz.xml", lolz_dtd("<lolz>&lol9;</lolz>").as_bytes())
        => rejected("no <feedback> element");
    billion_laughs_inside_a_report: |b| {
        // The DTD is skipped, the reference stays literal text: stored.
        let xml = report("bad-lolz").replace("<org_name>catalogue.example", "<org_name>&lol9;");
        let doc = lolz_dtd(xml.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#));
        put(b, "bad-lolz-report.xml", doc.as_bytes())
    } => Expect::Accepted { reports: 1 };
    external_entity: |b| {
        let xml = report("bad-xxe").replace("<org_name>catalogue.example", "<org_name>&xxe;");
        let doc = xml.replace(
            "<feedback>",
            "<!DOCTYPE feedback [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<feedback>",
        );
        put(b, "bad-xxe.xml", doc.as_bytes())
    } => Expect::Accepted { reports: 1 };

    // --- Values -------------------------------------------------------
    negative_count: |b| put(b, "bad-negative.xml", &report_with("<count>3</count>", "<count>-5</count>"))
        => rejected("negative count -5");
    non_numeric_count: |b| put(b, "bad-nan.xml", &report_with("<count>3</count>", "<count>many</count>"))
        => rejected("count \"many\" is not a non-negative 64-bit integer");
    count_of_2_pow_63_plus_1: |b| put(b, "bad-huge-count.xml",
        &report_with("<count>3</count>", "<count>9223372036854775809</count>"))
        => rejected("count \"9223372036854775809\" is not a non-negative 64-bit integer");
    counts_that_overflow_when_summed: |b| {
        // Each fits in i64; their sum does not. Totals saturate: stored.
        let xml = String::from_utf8(report_with("<count>3</count>", "<count>9223372036854775807</count>")).unwrap();
        let (start, end) = (xml.find("<record>").unwrap(), xml.find("</feedback>").unwrap());
        let doubled = format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..]);
        put(b, "bad-sum.xml", doubled.replace("<report_id>bad<", "<report_id>bad-sum<").as_bytes())
    } => Expect::Accepted { reports: 1 };
    invalid_source_ip: |b| put(b, "bad-ip.xml",
        &report_with("<source_ip>192.0.2.1</source_ip>", "<source_ip>192.0.2.999</source_ip>"))
        => rejected("source_ip \"192.0.2.999\" is not an IP address");
    empty_source_ip: |b| put(b, "bad-empty-ip.xml",
        &report_with("<source_ip>192.0.2.1</source_ip>", "<source_ip></source_ip>"))
        => rejected("empty source_ip");
    begin_after_end: |b| put(b, "bad-range.xml",
        &report_with("<begin>1700000000</begin>", "<begin>1800000000</begin>"))
        => rejected("date_range begin 1800000000 is after end 1700086399");
    date_before_1970: |b| put(b, "bad-1969.xml",
        &report_with("<begin>1700000000</begin>", "<begin>-86400</begin>"))
        => rejected("date_range begin -86400 is outside 1970..9999");
    date_after_9999: |b| put(b, "bad-10000.xml",
        &report_with("<end>1700086399</end>", "<end>253402300800</end>"))
        => rejected("date_range end 253402300800 is outside 1970..9999");
    text_field_of_100_mb: |b| {
        // Streamed to the file: the test process must stay small (see `run`).
        let xml = report("bad");
        let at = xml.find("catalogue.example</org_name>").unwrap();
        let mut f = std::io::BufWriter::new(File::create(b.join("bad-huge-field.xml")).unwrap());
        f.write_all(&xml.as_bytes()[..at]).unwrap();
        let chunk = vec![b'A'; MIB];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(&xml.as_bytes()[at..]).unwrap();
        f.flush().unwrap();
        "bad-huge-field.xml".to_string()
    } => rejected("without markup");
    nesting_100000_levels: |b| {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        put(b, "bad-deep.xml", &report_with("<policy_published>", &format!("{deep}<policy_published>")))
    } => rejected("elements nested deeper than 256");

    // --- SMTP TLS reports (RFC 8460 JSON) ------------------------------
    tls_nested_100000_deep: |b| {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        put(b, "bad-tls-deep.json", tls_with("\"x\":0", &format!("\"x\":{deep}")).as_bytes())
    } => rejected("JSON nested deeper than 16 levels");
    tls_array_of_a_million_policies: |b| {
        let policies = vec!["{}"; 1_000_000].join(",");
        put(b, "bad-tls-wide.json", tls_with("\"x\":0", &format!("\"x\":[{policies}]")).as_bytes())
    } => rejected("an array has more than 100000 elements");
    tls_string_of_10_mb: |b| {
        let long = "A".repeat(10 * MIB);
        put(b, "bad-tls-string.json", tls_with("\"x\":0", &format!("\"x\":\"{long}\"")).as_bytes())
    } => rejected("longer than 65536 bytes");
    tls_gzip_bomb: |b| {
        // 1 GiB of `0,` in the policies array: refused once the parser has
        // read the 16 MiB it takes at most, never inflated further.
        let prefix = br#"{"organization-name":"o","report-id":"bomb","policies":["#;
        let (deflate, crc) = deflate_bomb(prefix, &b"0,".repeat(MIB / 2), GIB / MIB);
        put(b, "bad-tls-bomb.json.gz", &gzip_around(&deflate, &crc))
    } => rejected("document larger than 16777216 bytes");
    tls_negative_count: |b| put(b, "bad-tls-negative.json",
        tls_with("\"total-failure-session-count\":3", "\"total-failure-session-count\":-3").as_bytes())
        => rejected("policy 1: total-failure-session-count is negative (-3)");
    tls_non_numeric_count: |b| put(b, "bad-tls-nan.json",
        tls_with("\"failed-session-count\":3", "\"failed-session-count\":\"three\"").as_bytes())
        => rejected("failed-session-count is not a number (\"three\")");
    tls_truncated_gzip: |b| {
        let z = gz(tls_with("", "").as_bytes());
        put(b, "bad-tls-cut.json.gz", &z[..z.len() - 12])
    } => rejected("truncated gzip stream");
    tls_invalid_utf8: |b| {
        let mut json = tls_with("bad-tls", "bad-tls\u{1}").into_bytes();
        let at = json.iter().position(|&c| c == 1).unwrap();
        json[at] = 0xff;
        put(b, "bad-tls-utf8.json", &json)
    } => rejected("invalid UTF-8 at byte");
    tls_report_in_a_mail_as_tlsrpt_json: |b| {
        let parts = [("application/tlsrpt+json", "r.json".to_string(), tls_with("", "").into_bytes())];
        put(b, "bad-tls-mail.eml", &mail("; boundary=\"B\"", &parts, true))
    } => Expect::Accepted { reports: 1 };

    // --- Failure reports (RFC 6591 ARF) --------------------------------
    arf_without_source_ip: |b| put(b, "bad-arf-noip.eml", arf("Source-IP: 192.0.2.7\r\n", "").as_bytes())
        => Expect::Accepted { reports: 1 };
    arf_with_a_source_ip_that_is_not_one: |b| put(b, "bad-arf-ip.eml",
        arf("Source-IP: 192.0.2.7", "Source-IP: 192.0.2.777").as_bytes())
        => rejected("Source-IP is not an IP address (\"192.0.2.777\")");
    arf_of_another_feedback_type: |b| put(b, "bad-arf-abuse.eml",
        arf("Feedback-Type: auth-failure", "Feedback-Type: abuse").as_bytes())
        => Expect::Accepted { reports: 0 };
    arf_with_invalid_utf8: |b| {
        let mut m = arf("Reported-Domain: example.com", "Reported-Domain: ex\u{1}mple.com").into_bytes();
        let at = m.iter().position(|&c| c == 1).unwrap();
        m[at] = 0xe9;
        put(b, "bad-arf-utf8.eml", &m)
    } => Expect::Accepted { reports: 1 };
    arf_field_of_1_mb: |b| {
        let long = format!("Authentication-Results: {}", "a".repeat(MIB));
        put(b, "bad-arf-long.eml", arf("Auth-Failure: dmarc", &long).as_bytes())
    } => rejected("field \"Authentication-Results\" longer than 65536 bytes");

    // --- Mail ---------------------------------------------------------
    mail_with_1000_attachments: |b| {
        let parts: Vec<(&str, String, Vec<u8>)> = (0..1000)
            .map(|i| ("application/gzip", format!("r{i}.xml.gz"), gz(report(&format!("bad-mail-{i}")).as_bytes())))
            .collect();
        put(b, "bad-1000.eml", &mail("; boundary=\"B\"", &parts, true))
    } => Expect::Accepted { reports: 1000 };
    mail_with_10001_parts: |b| {
        let parts: Vec<(&str, String, Vec<u8>)> = (0..10_001)
            .map(|i| ("application/octet-stream", format!("x{i}.bin"), vec![b'x']))
            .collect();
        put(b, "bad-10001.eml", &mail("; boundary=\"B\"", &parts, true))
    } => rejected("parts, more than the limit 10000");
    mime_part_cut_off_in_base64: |b| {
        let att = gz(report("bad").as_bytes());
        let m = mail("; boundary=\"B\"", &[("application/gzip", "r.xml.gz".into(), att)], true);
        let text = String::from_utf8(m).unwrap();
        let start = text.find("H4sI").unwrap();
        let cut = format!("{}{}", &text[..start + 40], "\r\n--B--\r\n");
        put(b, "bad-cut.eml", cut.as_bytes())
    } => rejected("truncated gzip stream");

    mime_without_closing_boundary: |b| {
        // Complete but for `--B--`: the attachment is decoded and stored.
        let att = gz(report("bad-open").as_bytes());
        put(b, "bad-open.eml", &mail("; boundary=\"B\"", &[("application/gzip", "r.xml.gz".into(), att)], false))
    } => Expect::Accepted { reports: 1 };
    mime_multipart_without_boundary_parameter: |b| {
        let att = gz(report("bad").as_bytes());
        put(b, "bad-noboundary.eml", &mail("", &[("application/gzip", "r.xml.gz".into(), att)], true))
    } => rejected("malformed MIME: multipart without a usable boundary");
    mime_boundary_that_never_appears: |b| {
        let att = gz(report("bad").as_bytes());
        put(b, "bad-wrongboundary.eml", &mail("; boundary=\"Z\"", &[("application/gzip", "r.xml.gz".into(), att)], true))
    } => rejected("malformed MIME: multipart without a usable boundary");

    // --- Files and directories ----------------------------------------
    dangling_symlink: |b| {
        std::os::unix::fs::symlink(b.join("gone.xml"), b.join("bad-dangling.xml")).unwrap();
        "bad-dangling.xml".to_string()
    } => unreadable("cannot follow symlink: no such file or directory");
    symlink_to_itself: |b| {
        std::os::unix::fs::symlink("bad-loop.xml", b.join("bad-loop.xml")).unwrap();
        "bad-loop.xml".to_string()
    } => unreadable("too many levels of symbolic links");
    symlink_to_parent_directory: |b| {
        // Directory links in a tree are not followed: no loop, no message,
        // and the good report is read once.
        std::os::unix::fs::symlink("..", b.join("bad-parent")).unwrap();
        "bad-parent".to_string()
    } => Expect::Accepted { reports: 0 };
    file_that_fails_to_read_even_for_root: |b| {
        // Reading /proc/self/mem at offset 0 is EIO for anyone.
        std::os::unix::fs::symlink("/proc/self/mem", b.join("bad-eio.xml")).unwrap();
        "bad-eio.xml".to_string()
    } => unreadable("cannot read: input/output error");
    file_over_the_size_limit: |b| {
        // Sparse: 600 MiB that take no disk; refused from its size, unread.
        File::create(b.join("bad-600mib.xml")).unwrap().set_len(600 * MIB as u64).unwrap();
        "bad-600mib.xml".to_string()
    } => unreadable("629145600 bytes, over the limit of 536870912 bytes; not read");
    fifo_and_socket_in_a_directory: |b| {
        // Not files: skipped (opening a FIFO would block the run).
        let fifo = std::ffi::CString::new(b.join("bad-fifo").to_str().unwrap()).unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::net::UnixListener::bind(b.join("bad-socket")).unwrap();
        "bad-fifo".to_string()
    } => Expect::Accepted { reports: 0 };
}

/// The literal-entity cases store the reference, never what it names.
#[test]
fn entities_are_stored_as_literal_text() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    let xml = report("xxe").replace("<org_name>catalogue.example", "<org_name>&xxe;");
    let doc = xml.replace(
        "<feedback>",
        "<!DOCTYPE feedback [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<feedback>",
    );
    fs::write(batch.join("xxe.xml"), doc).unwrap();
    let db = dir.path().join("x.db");
    assert_eq!(run(dir.path(), &db, &[batch.as_os_str()]).code, 0);
    let org = "SELECT count(*) FROM report WHERE org_name = ?1";
    assert_eq!(count(&db, org, "&xxe;"), 1);
}

/// A bomb of markup (no long text run for the run guard to catch) is
/// stopped by the decompression cap alone. Run with a small `--max-size`:
/// at the default 512 MiB the debug build would parse for minutes.
#[test]
fn decompression_cap_stops_a_bomb_of_markup() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    let head = report("bad");
    let head = &head[..head.find("<record>").unwrap()];
    let chunk = "<x/>".repeat(MIB / 4);
    let (deflate, crc) = deflate_bomb(head.as_bytes(), chunk.as_bytes(), GIB / MIB);
    put(&batch, "bad-elements.xml.gz", &gzip_around(&deflate, &crc));
    let db = dir.path().join("x.db");
    let args = [OsStr::new("--max-size"), OsStr::new("8"), batch.as_os_str()];
    let r = run(dir.path(), &db, &args);
    assert!(r.max_rss_kib < MAX_RSS_KIB, "{} KiB", r.max_rss_kib);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("bad-elements.xml.gz: decompressed size exceeds the limit of 8388608 bytes"),
        "{}",
        r.stderr
    );
}
