-- Version 3 to 4: SMTP TLS reports (RFC 8460), DMARC failure reports
-- (RFC 6591) and the per-file secret for --redact. New tables only; the
-- aggregate tables are untouched. Defined here exactly as in schema.sql (a
-- test compares the two).

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
