//! The sample corpus: every real provider report extracts as expected.

use super::*;

fn corpus() -> Option<PathBuf> {
    crate::test_corpus::corpus_dir("parsedmarc")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn extract_file(path: &Path) -> Extracted {
    let name = path.file_name().unwrap().to_string_lossy();
    extract(&name, &std::fs::read(path).unwrap(), &Limits::default())
}

#[test]
fn corpus_aggregate_reports_yield_one_payload_each() {
    let Some(root) = corpus() else { return };
    let mut seen = 0;
    for sub in ["aggregate", "aggregate_invalid", "extract_report"] {
        for path in files_in(&root.join(sub)) {
            let x = extract_file(&path);
            assert!(x.errors.is_empty(), "{}: {:?}", path.display(), reasons(&x));
            assert_eq!(x.payloads.len(), 1, "{}", path.display());
            let xml = read_all(&x.payloads[0], &Limits::default()).unwrap();
            assert!(contains(&xml, b"feedback"), "{}", path.display());
            seen += 1;
        }
    }
    assert_eq!(seen, 24);
    assert_eq!(
        single_error(&extract_file(&root.join("empty.xml"))),
        "empty.xml: empty input"
    );
}

/// The inner payload hashes listed in the corpus README, computed there
/// by an independent Python unpacker.
#[test]
fn corpus_containers_unpack_to_the_documented_payloads() {
    use sha2::{Digest, Sha256};
    let Some(root) = corpus() else { return };
    let expected = [
        ("aggregate/mimecast-weird-gzip.eml", "72514b3544cf"),
        ("aggregate/twilight.eml", "ea6ae16a16b7"),
        (
            "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml",
            "0d7c79c23645",
        ),
        (
            "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz",
            "83cc27733031",
        ),
        (
            "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip",
            "fb1e6fc9f8d0",
        ),
        ("extract_report/nice-input.xml.gz", "7005e63ffe94"),
        ("extract_report/nice-input.xml.zip", "7005e63ffe94"),
    ];
    for (file, sha) in expected {
        let x = extract_file(&root.join(file));
        let xml = read_all(single(&x), &Limits::default()).unwrap();
        let hex: String = Sha256::digest(&xml)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&hex[..12], sha, "{file}");
    }
}

#[test]
fn report_mail_typed_multipart_report_with_dmarc_subject_keeps_its_attachment() {
    let eml = mail(&format!(
        "From: dmarc@example.net\nSubject: DMARC Aggregate Report for example.org\n\
         Content-Type: multipart/report; boundary=\"b\"\n\n\
         --b\nContent-Type: application/gzip; name=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--b--\n",
        base64(&gz(XML))
    ));
    let x = run(&eml);
    assert_eq!(single(&x).kind, PayloadKind::Aggregate);
}

#[test]
fn corpus_failure_reports_are_one_failure_payload_each() {
    let Some(root) = corpus() else { return };
    for path in files_in(&root.join("failure")) {
        let x = extract_file(&path);
        assert!(x.is_mail, "{}", path.display());
        let p = single(&x);
        assert_eq!(p.kind, PayloadKind::Failure, "{}", path.display());
        assert!(!p.gzip);
        assert!(
            p.data.starts_with(b"Received:")
                || p.data.starts_with(b"MIME")
                || p.data.starts_with(b"Auth")
                || p.data.starts_with(b"Return"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn corpus_smtp_tls_reports_are_tls_payloads() {
    let Some(root) = corpus() else { return };
    for path in files_in(&root.join("smtp_tls")) {
        let x = extract_file(&path);
        assert_eq!(single(&x).kind, PayloadKind::Tls, "{}", path.display());
    }
    let x = extract_file(&root.join("smtp_tls/google.com_smtp_tls_report.eml"));
    assert!(x.is_mail && single(&x).gzip);
}

/// A Google-style mail whose boundary lines are given by `boundary_param`
/// and whose closing boundary is there only when `close`.
fn gzip_report_mail(content_type: &str, close: bool) -> Vec<u8> {
    mail(&format!(
        "From: noreply-dmarc-support@google.com\n\
         MIME-Version: 1.0\n\
         Content-Type: {content_type}\n\
         \n\
         --b1\n\
         Content-Type: text/plain\n\
         \n\
         Report attached.\n\
         --b1\n\
         Content-Type: application/gzip; name=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n{}",
        base64(&gz(XML)),
        if close { "--b1--\n" } else { "" }
    ))
}

/// Found by the bad-input catalogue: without its closing boundary, the
/// last part came back from mail-parser as undecoded base64 text, and a
/// complete report was rejected as "unrecognised content (first bytes 48
/// 34 73 49 ...)", i.e. `H4sI`.
#[test]
fn last_part_without_closing_boundary_is_still_decoded() {
    let x = run(&gzip_report_mail("multipart/mixed; boundary=\"b1\"", false));
    assert!(x.errors.is_empty(), "{:?}", reasons(&x));
    assert_eq!(read_all(single(&x), &Limits::default()).unwrap(), XML);
}

/// Found by the bad-input catalogue: a multipart without a boundary
/// parameter, or with one that never appears, was one opaque body and the
/// mail silently counted as "no report". It is an error now (the mail is
/// quarantined), since a report may be inside.
#[test]
fn multipart_without_a_usable_boundary_is_an_error() {
    for ct in ["multipart/mixed", "multipart/mixed; boundary=\"other\""] {
        let reason = single_error(&run(&gzip_report_mail(ct, true)));
        assert_eq!(
            reason, "in::part 0: malformed MIME: multipart without a usable boundary",
            "{ct}"
        );
    }
}

/// Found by the `mail` fuzz target (minimized): a multipart whose boundary
/// line runs on (`...45y`) around nested `message/rfc822` parts sends
/// mail-parser 0.11 down a recovery path guarded by `debug_assert!`, which
/// panicked in debug builds (and killed the whole ingest run). Release
/// builds recover; Cargo.toml turns that assertion off in debug builds too.
#[test]
fn broken_nested_rfc822_recovers_without_panicking() {
    let mail =
        b"X-Fuzz: 1\r\nContent-Type: multipart;boundary=\"=_dmarcdb_b8b4c2977eabce45\"\n\r\n\
--=_dmarcdb_b8b4c2977eabce45y\nContent-Type: message/rfc822\n\r\n\
Content-Type: message/rfc822 \r\n\n\n--=_dmarcdb_b8b4c2977eabce45--\r";
    let x = run(mail);
    assert!(x.is_mail);
    assert!(x.payloads.is_empty(), "{:?}", x.payloads);
}

#[test]
fn a_payload_that_is_the_whole_input_shares_its_bytes() {
    let limits = Limits::default();
    for input in [XML.to_vec(), gz(XML)] {
        let input = std::sync::Arc::new(input);
        let x = extract_input("in", &input, &limits);
        assert!(std::sync::Arc::ptr_eq(&single(&x).data, &input));
    }
    // A payload inside a container is its own copy.
    let input = std::sync::Arc::new(zip_of(&[("r.xml", XML)]));
    let x = extract_input("in", &input, &limits);
    assert!(!std::sync::Arc::ptr_eq(&single(&x).data, &input));
    assert_eq!(read_all(single(&x), &limits).unwrap(), XML);
}
