//! The server's configuration: the installed version, who its processes
//! run as, and the `dovecot.conf` text for Dovecot 2.3 (tested) and 2.4
//! (written from its documentation).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::{other, Failure, OAuth2Passdb, HOST, MAIL_ID};

pub(super) struct Version {
    pub(super) major_minor: (u32, u32),
}

/// The installed Dovecot's version, or `None` (after a notice) when it is
/// missing; with `CI=true` a missing Dovecot panics.
pub(super) fn installed_version() -> Option<Version> {
    let output = Command::new("dovecot").arg("--version").output();
    let text = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => {
            let missing = "dovecot is not installed (run .ci/install-deps.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{missing}; CI=true, so IMAP tests may not be skipped");
            }
            eprintln!("NOTICE: {missing}: IMAP test skipped");
            return None;
        }
    };
    // "2.3.19.1 (9b53102964)"
    let mut parts = text.trim().split(['.', ' ']);
    let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) => Some(Version {
            major_minor: (major, minor),
        }),
        _ => panic!("cannot parse `dovecot --version` output {text:?}"),
    }
}

/// Who Dovecot's processes run as.
pub(super) struct Runner {
    pub(super) is_root: bool,
    /// Login and internal processes' user.
    pub(super) login_user: String,
    pub(super) internal_user: String,
    /// Group of the internal processes' sockets; `None` keeps Dovecot's.
    pub(super) internal_group: Option<String>,
    /// Mail files' owner.
    pub(super) mail_uid: u32,
    pub(super) mail_gid: u32,
}

impl Runner {
    pub(super) fn current() -> Result<Runner, Failure> {
        let status =
            fs::read_to_string("/proc/self/status").map_err(|e| other("/proc/self/status", e))?;
        // "Uid:\treal\teffective\t..."
        let effective = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok())
        };
        let (Some(uid), Some(gid)) = (effective("Uid:"), effective("Gid:")) else {
            return Err(other("/proc/self/status", "no Uid/Gid line"));
        };
        if uid == 0 {
            return Ok(Runner {
                is_root: true,
                login_user: "dovenull".into(),
                internal_user: "dovecot".into(),
                internal_group: None,
                mail_uid: MAIL_ID,
                mail_gid: MAIL_ID,
            });
        }
        let id = |flag: &str| -> Result<String, Failure> {
            let out = Command::new("id")
                .arg(flag)
                .output()
                .map_err(|e| other("id", e))?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let name = id("-un")?;
        Ok(Runner {
            is_root: false,
            login_user: name.clone(),
            internal_user: name,
            internal_group: Some(id("-gn")?),
            mail_uid: uid,
            mail_gid: gid,
        })
    }
}

pub(super) struct Settings<'a> {
    pub(super) root: &'a Path,
    pub(super) port: u16,
    pub(super) starttls_port: Option<u16>,
    pub(super) hide_move: bool,
    pub(super) hide_idle: bool,
    pub(super) rawlog: bool,
    pub(super) oauth2: Option<&'a OAuth2Passdb>,
    pub(super) runner: &'a Runner,
}

/// Dovecot 2.3's default capabilities (2.3.19) without MOVE.
const CAPABILITIES_WITHOUT_MOVE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
     SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
     CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC \
     ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY LITERAL+";

pub(super) fn config_2_3(s: &Settings) -> String {
    let root = s.root.display();
    let r = s.runner;
    let mut c = String::new();
    let _ = write!(
        c,
        "\
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = {login}
default_internal_user = {internal}
ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
auth_mechanisms = plain login{oauth_mechs}
# Tests of a wrong password need not wait the default 2 s.
auth_failure_delay = 0
# TLS everywhere anyway; Dovecot also trusts 127.0.0.1 as secured.
disable_plaintext_auth = yes
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
# Throwaway mail: no fsync per message.
mail_fsync = never
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
",
        login = r.login_user,
        internal = r.internal_user,
        uid = r.mail_uid,
        gid = r.mail_gid,
        imap_port = s.starttls_port.unwrap_or(0),
        port = s.port,
        oauth_mechs = if s.oauth2.is_some() {
            " xoauth2 oauthbearer"
        } else {
            ""
        },
        oauth_passdb = match s.oauth2 {
            Some(_) => format!(
                "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                 args = {root}/dovecot-oauth2.conf.ext\n}}\n"
            ),
            None => String::new(),
        },
    );
    non_root(&mut c, r);
    let mut imap = String::new();
    if s.hide_move || s.hide_idle {
        let mut caps = CAPABILITIES_WITHOUT_MOVE.to_owned();
        if !s.hide_move {
            caps.push_str(" MOVE");
        }
        if s.hide_idle {
            caps = caps.replace(" IDLE", "");
        }
        let _ = writeln!(imap, "  imap_capability = {caps}");
    }
    if s.rawlog {
        let _ = writeln!(imap, "  rawlog_dir = {root}/rawlog");
    }
    if !imap.is_empty() {
        let _ = write!(c, "protocol imap {{\n{imap}}}\n");
    }
    c
}

/// Not root: sockets cannot be given to Dovecot's group, and processes
/// that default to root (auth-worker) must run as us too.
fn non_root(c: &mut String, r: &Runner) {
    if let Some(group) = &r.internal_group {
        let _ = write!(
            c,
            "default_internal_group = {group}\nservice auth-worker {{\n  user = {}\n}}\n",
            r.internal_user
        );
    }
}

/// Untested: written from the 2.3 → 2.4 upgrade notes (new required
/// version settings, `ssl_server_*_file`, `mail_driver`/`mail_path`,
/// named passdb/userdb blocks, `%{user}` variables).
pub(super) fn config_2_4(s: &Settings) -> String {
    let root = s.root.display();
    let r = s.runner;
    let mut c = String::new();
    let _ = write!(
        c,
        "\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = {login}
default_internal_user = {internal}
ssl = required
ssl_server_cert_file = {root}/server.pem
ssl_server_key_file = {root}/server.key
auth_mechanisms = plain login{oauth_mechs}
# Tests of a wrong password need not wait the default 2 s.
auth_failure_delay = 0
auth_allow_cleartext = no
mail_driver = maildir
mail_path = {root}/mail/%{{user}}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
# Throwaway mail: no fsync per message.
mail_fsync = never
passdb passwd-file {{
  passwd_file_path = {root}/passwd
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {root}/mail/%{{user}}
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
",
        login = r.login_user,
        internal = r.internal_user,
        uid = r.mail_uid,
        gid = r.mail_gid,
        imap_port = s.starttls_port.unwrap_or(0),
        port = s.port,
        oauth_mechs = if s.oauth2.is_some() {
            " xoauth2 oauthbearer"
        } else {
            ""
        },
    );
    non_root(&mut c, r);
    if let Some(o) = s.oauth2 {
        // 2.4 checks tokens without a passdb, with `oauth2_*` settings.
        let _ = write!(
            c,
            "oauth2 {{\n  introspection_mode = {}\n  introspection_url = {}\n  \
             username_attribute = username\n  active_attribute = active\n  \
             active_value = true\n  force_introspection = yes\n}}\n",
            o.introspection_mode, o.introspection_url
        );
    }
    if s.hide_move || s.hide_idle {
        let _ = writeln!(c, "imap_capability {{");
        if s.hide_move {
            let _ = writeln!(c, "  MOVE = no");
        }
        if s.hide_idle {
            let _ = writeln!(c, "  IDLE = no");
        }
        let _ = writeln!(c, "}}");
    }
    if s.rawlog {
        let _ = writeln!(c, "rawlog_dir = {root}/rawlog");
    }
    c
}
