-- dmarcdb schema, version 5 (the current one).
--
-- Applied by store.rs to a new file (PRAGMA user_version 0), which then
-- gets the latest version number. Files made by an older version are
-- brought here by the migrations in src/store/migrations/ (append only:
-- never edit one that has shipped). Dates are seconds since the Unix epoch
-- (UTC). Enumerated words (results, dispositions) are stored lower-cased as
-- the parser normalised them; the original bytes of every report are kept
-- in report_blob so anything can be re-parsed later.
--
-- Foreign keys say what refers to what; dmarcdb does not have SQLite check
-- them on insert (PRAGMA foreign_keys is off: the check cost a seventh of
-- the insert time), it makes every reference itself and its tests run
-- PRAGMA foreign_key_check. Nothing relies on ON DELETE CASCADE.

-- One row per aggregate report. The identity key is the UNIQUE constraint:
-- (org_name, report_id, policy_domain, date_begin, date_end). report_id alone
-- is not unique across reporters (the corpus has two orgs sharing one), and
-- small reporters reuse counters, so the domain and the range are part of it.
CREATE TABLE report (
    id                  INTEGER PRIMARY KEY,
    org_name            TEXT    NOT NULL,
    email               TEXT    NOT NULL DEFAULT '',
    extra_contact_info  TEXT,
    report_id           TEXT    NOT NULL,
    date_begin          INTEGER NOT NULL,
    date_end            INTEGER NOT NULL,
    errors              TEXT,             -- every <error>, newline-separated
    generator           TEXT,             -- RFC 9990
    version             TEXT,             -- <version>: NULL (draft), 1.0, 2.0
    xml_namespace       TEXT,
    policy_domain       TEXT    NOT NULL,
    policy_adkim        TEXT,
    policy_aspf         TEXT,
    policy_p            TEXT,
    policy_sp           TEXT,
    policy_np           TEXT,             -- RFC 9990
    policy_pct          INTEGER,
    policy_fo           TEXT,
    policy_testing      TEXT,             -- RFC 9990
    policy_discovery_method TEXT,         -- RFC 9990
    record_count        INTEGER NOT NULL DEFAULT 0,  -- <record> elements as delivered
    message_count       INTEGER NOT NULL DEFAULT 0,  -- sum of <count>
    pass_count          INTEGER NOT NULL DEFAULT 0,  -- sum of <count> where dmarc_pass
    source              TEXT    NOT NULL,  -- where it was first ingested from
    ingested_at         INTEGER NOT NULL,
    UNIQUE (org_name, report_id, policy_domain, date_begin, date_end)
);
CREATE INDEX report_date_begin ON report (date_begin);
CREATE INDEX report_domain ON report (policy_domain, date_begin);
-- For `daily`, which also takes the reports that begin before its window
-- and reach into it (a long report straddling the window's start).
CREATE INDEX report_date_end ON report (date_end);

-- The report XML as received, gzip-compressed (a gzip attachment is kept as
-- sent; plain XML is compressed on the way in).
CREATE TABLE report_blob (
    report      INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE,
    sha256      BLOB    NOT NULL,          -- of the gzip bytes below
    gzip        BLOB    NOT NULL
);
-- The kept bytes found by their digest: an input that is the very same
-- bytes as a stored report (the same file again) is told from them alone,
-- before anything is inflated or parsed (added in version 6).
CREATE INDEX report_blob_sha256 ON report_blob (sha256);

-- Conflicting copies: inputs with the identity key of a stored report but
-- different content (see README, "Identity"), kept byte for byte. A copy
-- whose markup needed repair never displaces a clean one: the clean copy is
-- the report, whichever arrived first, and the other is kept here.
CREATE TABLE report_variant (
    id              INTEGER PRIMARY KEY,
    report          INTEGER NOT NULL REFERENCES report (id) ON DELETE CASCADE,
    sha256          BLOB    NOT NULL UNIQUE,   -- of the report XML (decompressed)
    source          TEXT    NOT NULL,          -- where this copy came from
    repair          TEXT,                      -- the first markup repair it needed; NULL: none
    gzip            BLOB    NOT NULL,          -- the report XML, gzip-compressed
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL
);
CREATE INDEX report_variant_report ON report_variant (report);

-- One row per <record>, keyed by its report and its position in it (seq,
-- from 0, document order). The key is the only index: the views reach a
-- report's records through it, and a secondary index per record (by
-- report, by source IP) cost more than the insert itself while
-- backfilling years of reports (bench/README.md). dmarc_pass is derived at
-- ingest (policy_evaluated dkim = pass OR spf = pass, RFC 7489 section
-- 6.6.2) so views need no string comparisons. ip_bin is the 16-byte form
-- of source_ip (IPv4 mapped into IPv6), NULL when source_ip is not an
-- address, for CIDR range filters. auth is the record's <auth_results>
-- (NULL when it has none).
CREATE TABLE record (
    report          INTEGER NOT NULL REFERENCES report (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    source_ip       TEXT    NOT NULL,
    ip_bin          BLOB,
    count           INTEGER NOT NULL,
    disposition     TEXT    NOT NULL,
    dkim            TEXT    NOT NULL,      -- policy_evaluated/dkim
    spf             TEXT    NOT NULL,      -- policy_evaluated/spf
    dmarc_pass      INTEGER NOT NULL,
    header_from     TEXT    NOT NULL,
    envelope_from   TEXT,
    envelope_to     TEXT,
    auth            INTEGER REFERENCES auth_set (id),
    PRIMARY KEY (report, seq)
) WITHOUT ROWID;

-- Distinct <auth_results> contents. A reporter repeats the same few for
-- every record from one sending service (the same DKIM domains, selectors
-- and results, the same SPF domain): 20,000 generated records hold 126
-- distinct ones, so records point at a set instead of repeating its rows.
-- key is the set as a JSON array, exactly as SQLite's json_array() writes
-- it: one ["dkim", domain, selector, result, human_result] per DKIM result
-- in document order, then one ["spf", domain, scope, result, human_result]
-- per SPF result. Sets are never deleted (a reparse may leave one unused).
CREATE TABLE auth_set (
    id              INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE
);

-- Every <auth_results><dkim> of a set, in document order (seq).
CREATE TABLE dkim_result (
    auth_set        INTEGER NOT NULL REFERENCES auth_set (id),
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    selector        TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (auth_set, seq)
) WITHOUT ROWID;

-- Every <auth_results><spf> of a set, in document order.
CREATE TABLE spf_result (
    auth_set        INTEGER NOT NULL REFERENCES auth_set (id),
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    scope           TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (auth_set, seq)
) WITHOUT ROWID;

-- Every <policy_evaluated><reason> of a record, in document order (seq).
CREATE TABLE override_reason (
    report          INTEGER NOT NULL,
    record          INTEGER NOT NULL,      -- record.seq
    seq             INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    comment         TEXT,
    PRIMARY KEY (report, record, seq),
    FOREIGN KEY (report, record) REFERENCES record (report, seq) ON DELETE CASCADE
) WITHOUT ROWID;

-- Which source IPs each report holds: the sorted distinct 64-bit FNV-1a
-- hashes of its records' source_ip (trimmed), little-endian, 8 bytes each.
-- Written with the report; the "new sender" alert reads the rows of the
-- reports before its window (src/store/report_ips.rs). A report without a
-- row (rewritten by reparse) gets one from its records when next asked.
CREATE TABLE report_ips (
    report          INTEGER PRIMARY KEY REFERENCES report (id),
    hashes          BLOB    NOT NULL
);

-- Network facts of a source IP (record.source_ip as written), from the
-- MaxMind-format databases given to `dmarcdb enrich`. Derived, apart from
-- the reports: `enrich` replaces rows at any time, and deleting them all
-- loses nothing the reports hold. NULL: the databases do not know.
CREATE TABLE net_fact (
    ip              TEXT    PRIMARY KEY,
    asn             INTEGER,
    as_name         TEXT,
    as_domain       TEXT,
    country         TEXT,               -- ISO 3166-1 alpha-2
    looked_up_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Reverse DNS of a source IP: the PTR name (NULL: none, NXDOMAIN cached
-- as such), whether it resolves back to the IP, and when it was asked
-- (asked again after the configured age). Failed lookups are not kept.
CREATE TABLE rdns (
    ip              TEXT    PRIMARY KEY,
    ptr             TEXT,
    confirmed       INTEGER NOT NULL,
    looked_up_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Small named values the program keeps about the file.
CREATE TABLE state (
    key             TEXT    PRIMARY KEY,
    value           INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per SMTP TLS report (RFC 8460). The identity key is the UNIQUE
-- constraint: (org_name, report_id, date_begin, date_end), the aggregate
-- report's key less the policy domain (a TLS report covers several).
-- policies and the two session sums are derived at ingest for the views.
CREATE TABLE tls_report (
    id                  INTEGER PRIMARY KEY,
    org_name            TEXT    NOT NULL,  -- organization-name ('' when absent)
    report_id           TEXT    NOT NULL,  -- report-id (sha256:... when absent)
    date_begin          INTEGER NOT NULL,  -- date-range start-datetime
    date_end            INTEGER NOT NULL,  -- date-range end-datetime
    contact_info        TEXT,
    policy_count        INTEGER NOT NULL,
    sessions_success    INTEGER NOT NULL,  -- sum of total-successful-session-count
    sessions_failure    INTEGER NOT NULL,  -- sum of total-failure-session-count
    source              TEXT    NOT NULL,
    ingested_at         INTEGER NOT NULL,
    UNIQUE (org_name, report_id, date_begin, date_end)
);
CREATE INDEX tls_report_date_begin ON tls_report (date_begin);

-- The report JSON as received, gzip-compressed (like report_blob).
CREATE TABLE tls_report_blob (
    report      INTEGER PRIMARY KEY REFERENCES tls_report (id) ON DELETE CASCADE,
    sha256      BLOB    NOT NULL,          -- of the gzip bytes below
    gzip        BLOB    NOT NULL
);

-- Every element of policies, in order (seq from 0). policy_string and
-- mx_host are JSON arrays of strings as the report gave them.
CREATE TABLE tls_policy (
    report              INTEGER NOT NULL REFERENCES tls_report (id) ON DELETE CASCADE,
    seq                 INTEGER NOT NULL,
    policy_type         TEXT    NOT NULL,  -- sts | tlsa | no-policy-found | as written
    policy_string       TEXT    NOT NULL,
    policy_domain       TEXT    NOT NULL,
    mx_host             TEXT    NOT NULL,
    sessions_success    INTEGER NOT NULL,
    sessions_failure    INTEGER NOT NULL,
    PRIMARY KEY (report, seq)
) WITHOUT ROWID;

-- Every failure-details element of a policy, in order (seq from 0).
CREATE TABLE tls_failure (
    report                  INTEGER NOT NULL,
    policy                  INTEGER NOT NULL,  -- tls_policy.seq
    seq                     INTEGER NOT NULL,
    result_type             TEXT    NOT NULL,
    sending_mta_ip          TEXT,
    receiving_mx_hostname   TEXT,
    receiving_mx_helo       TEXT,
    receiving_ip            TEXT,
    failed_session_count    INTEGER NOT NULL,
    additional_information  TEXT,
    failure_reason_code     TEXT,
    PRIMARY KEY (report, policy, seq),
    FOREIGN KEY (report, policy) REFERENCES tls_policy (report, seq) ON DELETE CASCADE
) WITHOUT ROWID;

-- One row per DMARC failure report (RFC 6591 auth-failure). The identity
-- key is identity: the SHA-256 of the parsed report (every feedback
-- field, the reported message's headers, the report mail's Message-ID),
-- so the same report fetched twice (IMAP and an mbox export, LF and CRLF,
-- with other Received lines) is stored once. Multi-valued fields are JSON
-- arrays; fields holds every field of the feedback-report part as
-- [name, value] pairs. redacted = 1: local parts of addresses are keyed
-- hashes (see secret) and the raw mail is not kept.
CREATE TABLE failure_report (
    id                      INTEGER PRIMARY KEY,
    identity                BLOB    NOT NULL UNIQUE,
    origin                  TEXT    NOT NULL,  -- arf | text (no ARF part)
    feedback_type           TEXT    NOT NULL,
    version                 TEXT,
    user_agent              TEXT,
    arrival_date            INTEGER,           -- Arrival-Date, else the mail's Date
    arrival_date_text       TEXT,              -- Arrival-Date as written
    source_ip               TEXT,
    reported_domain         TEXT    NOT NULL,  -- the first Reported-Domain ('' if none)
    reported_domains        TEXT    NOT NULL,  -- every Reported-Domain
    original_mail_from      TEXT,
    original_envelope_id    TEXT,
    original_rcpt_to        TEXT    NOT NULL,
    auth_failure            TEXT,
    delivery_result         TEXT,
    dkim_domain             TEXT,
    dkim_identity           TEXT,
    dkim_selector           TEXT,
    spf_dns                 TEXT,
    identity_alignment      TEXT,
    reporting_mta           TEXT,
    authentication_results  TEXT    NOT NULL,
    fields                  TEXT    NOT NULL,
    reported_from           TEXT,
    reported_to             TEXT,
    reported_subject        TEXT,
    reported_date           TEXT,
    reported_message_id     TEXT,
    message_id              TEXT,              -- the report mail's own
    redacted                INTEGER NOT NULL,
    source                  TEXT    NOT NULL,
    ingested_at             INTEGER NOT NULL
);
CREATE INDEX failure_report_arrival ON failure_report (arrival_date);
CREATE INDEX failure_report_source_ip ON failure_report (source_ip);

-- The failure report mail as received, gzip-compressed; no row when the
-- report was stored redacted.
CREATE TABLE failure_report_blob (
    report      INTEGER PRIMARY KEY REFERENCES failure_report (id) ON DELETE CASCADE,
    sha256      BLOB    NOT NULL,          -- of the gzip bytes below
    gzip        BLOB    NOT NULL
);

-- Secrets the program generates once per file: 'redact_key', the key of
-- the keyed hash (HMAC-SHA-256) that replaces local parts under --redact.
CREATE TABLE secret (
    name        TEXT    PRIMARY KEY,
    value       BLOB    NOT NULL
) WITHOUT ROWID;

-- Inputs that could not be stored, kept so a later version can retry them
-- (`dmarcdb reparse`). One row per distinct content.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    sha256      BLOB    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,          -- input name (path, path::member, IMAP UID)
    reason      TEXT    NOT NULL,
    gzip        BLOB    NOT NULL,          -- the input bytes, gzip-compressed
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1
);
