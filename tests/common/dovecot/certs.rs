//! The harness's certificates: a private CA and a server certificate it
//! signed, made with the `openssl` CLI.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{chmod, other, Failure};

/// [`write_certificates`] for other harnesses (the SMTP one); panics on failure.
pub fn make_certificates(root: &Path) {
    if let Err(Failure::Other(e) | Failure::PortTaken(e)) = write_certificates(root) {
        panic!("{e}");
    }
}

/// `ca.pem`/`ca.key` (a CA) and `server.pem`/`server.key` (signed by it,
/// for IP 127.0.0.1 and DNS localhost), with the `openssl` CLI. EC P-256
/// keys: fast to make, and verified by rustls.
pub(super) fn write_certificates(root: &Path) -> Result<(), Failure> {
    let ext = root.join("server.ext");
    fs::write(
        &ext,
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .map_err(|e| other("write server.ext", e))?;
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let path = |name: &str| root.join(name).display().to_string();
    openssl(
        &[&["req", "-x509"], &key[..]].concat(),
        &[
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=dmarcdb test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    openssl(
        &[&["req"], &key[..]].concat(),
        &[
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
            "-subj",
            "/CN=localhost",
        ],
    )?;
    openssl(
        &["x509", "-req"],
        &[
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-out",
            &path("server.pem"),
            "-days",
            "2",
            "-extfile",
            &path("server.ext"),
        ],
    )?;
    chmod(&root.join("ca.pem"), 0o644)
}

pub(super) fn openssl(head: &[&str], tail: &[&str]) -> Result<(), Failure> {
    let out = Command::new("openssl")
        .args(head)
        .args(tail)
        .output()
        .map_err(|e| other("run openssl (is it installed?)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "openssl {} failed: {}",
            head.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}
