-- dmarcdb schema, version 1.
--
-- Applied by store.rs on open when PRAGMA user_version is 0; later versions
-- append migrations in store.rs (never edit a shipped migration). Dates are
-- seconds since the Unix epoch (UTC). Enumerated words (results,
-- dispositions) are stored lower-cased as the parser normalised them; the
-- original bytes of every report are kept in report_blob so anything can be
-- re-parsed later.

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

-- The report XML as received, gzip-compressed (a gzip attachment is kept as
-- sent; plain XML is compressed on the way in).
CREATE TABLE report_blob (
    report      INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE,
    sha256      BLOB    NOT NULL,          -- of the gzip bytes below
    gzip        BLOB    NOT NULL
);

-- One row per <record>. dmarc_pass is derived at ingest (policy_evaluated
-- dkim = pass OR spf = pass, RFC 7489 section 6.6.2) so views need no string
-- comparisons. ip_bin is the 16-byte form of source_ip (IPv4 mapped into
-- IPv6), NULL when source_ip is not an address, for CIDR range filters.
CREATE TABLE record (
    id              INTEGER PRIMARY KEY,
    report          INTEGER NOT NULL REFERENCES report (id) ON DELETE CASCADE,
    source_ip       TEXT    NOT NULL,
    ip_bin          BLOB,
    count           INTEGER NOT NULL,
    disposition     TEXT    NOT NULL,
    dkim            TEXT    NOT NULL,      -- policy_evaluated/dkim
    spf             TEXT    NOT NULL,      -- policy_evaluated/spf
    dmarc_pass      INTEGER NOT NULL,
    header_from     TEXT    NOT NULL,
    envelope_from   TEXT,
    envelope_to     TEXT
);
CREATE INDEX record_report ON record (report);
CREATE INDEX record_source_ip ON record (source_ip);

-- Every <auth_results><dkim>, in document order (seq).
CREATE TABLE dkim_result (
    record          INTEGER NOT NULL REFERENCES record (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    selector        TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (record, seq)
) WITHOUT ROWID;

-- Every <auth_results><spf>, in document order.
CREATE TABLE spf_result (
    record          INTEGER NOT NULL REFERENCES record (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    scope           TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (record, seq)
) WITHOUT ROWID;

-- Every <policy_evaluated><reason>, in document order.
CREATE TABLE override_reason (
    record          INTEGER NOT NULL REFERENCES record (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    comment         TEXT,
    PRIMARY KEY (record, seq)
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
