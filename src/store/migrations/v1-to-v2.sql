-- Version 1 to 2: records keyed by (report, seq) with no secondary index,
-- auth results as shared sets, and the lazily kept sender table (see
-- schema.sql for what each is and why). The new tables are defined here
-- exactly as in schema.sql (a test compares the two).

ALTER TABLE override_reason RENAME TO v1_override_reason;
ALTER TABLE dkim_result RENAME TO v1_dkim_result;
ALTER TABLE spf_result RENAME TO v1_spf_result;
ALTER TABLE record RENAME TO v1_record;
DROP INDEX record_report;
DROP INDEX record_source_ip;

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

CREATE TABLE auth_set (
    id              INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE
);

CREATE TABLE dkim_result (
    auth_set        INTEGER NOT NULL REFERENCES auth_set (id),
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    selector        TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (auth_set, seq)
) WITHOUT ROWID;

CREATE TABLE spf_result (
    auth_set        INTEGER NOT NULL REFERENCES auth_set (id),
    seq             INTEGER NOT NULL,
    domain          TEXT    NOT NULL,
    scope           TEXT,
    result          TEXT    NOT NULL,
    human_result    TEXT,
    PRIMARY KEY (auth_set, seq)
) WITHOUT ROWID;

CREATE TABLE override_reason (
    report          INTEGER NOT NULL,
    record          INTEGER NOT NULL,      -- record.seq
    seq             INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    comment         TEXT,
    PRIMARY KEY (report, record, seq),
    FOREIGN KEY (report, record) REFERENCES record (report, seq) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE sender (
    source_ip       TEXT    PRIMARY KEY,
    first_seen      INTEGER NOT NULL       -- min(report.date_begin)
) WITHOUT ROWID;

CREATE TABLE state (
    key             TEXT    PRIMARY KEY,
    value           INTEGER NOT NULL
) WITHOUT ROWID;

-- Each old record's position in its report, and its auth-result key (the
-- JSON text the program builds, store/insert.rs auth_key).
CREATE TEMP TABLE v1_position AS
    SELECT id, report, row_number() OVER (PARTITION BY report ORDER BY id) - 1 AS seq
    FROM v1_record;
CREATE TEMP TABLE v1_auth AS
    SELECT record, json_group_array(json(entry) ORDER BY kind, seq) AS key
    FROM (SELECT record, 0 AS kind, seq,
                 json_array('dkim', domain, selector, result, human_result) AS entry
          FROM v1_dkim_result
          UNION ALL
          SELECT record, 1, seq, json_array('spf', domain, scope, result, human_result)
          FROM v1_spf_result)
    GROUP BY record;

INSERT INTO auth_set (key)
    SELECT key FROM v1_auth GROUP BY key ORDER BY min(record);
INSERT INTO dkim_result (auth_set, seq, domain, selector, result, human_result)
    SELECT s.id, d.seq, d.domain, d.selector, d.result, d.human_result
    FROM auth_set s
    JOIN (SELECT key, min(record) AS record FROM v1_auth GROUP BY key) f ON f.key = s.key
    JOIN v1_dkim_result d ON d.record = f.record;
INSERT INTO spf_result (auth_set, seq, domain, scope, result, human_result)
    SELECT s.id, d.seq, d.domain, d.scope, d.result, d.human_result
    FROM auth_set s
    JOIN (SELECT key, min(record) AS record FROM v1_auth GROUP BY key) f ON f.key = s.key
    JOIN v1_spf_result d ON d.record = f.record;
INSERT INTO record (report, seq, source_ip, ip_bin, count, disposition, dkim, spf,
                    dmarc_pass, header_from, envelope_from, envelope_to, auth)
    SELECT r.report, p.seq, r.source_ip, r.ip_bin, r.count, r.disposition, r.dkim, r.spf,
           r.dmarc_pass, r.header_from, r.envelope_from, r.envelope_to, s.id
    FROM v1_record r
    JOIN v1_position p ON p.id = r.id
    LEFT JOIN v1_auth a ON a.record = r.id
    LEFT JOIN auth_set s ON s.key = a.key;
INSERT INTO override_reason (report, record, seq, type, comment)
    SELECT p.report, p.seq, o.seq, o.type, o.comment
    FROM v1_override_reason o JOIN v1_position p ON p.id = o.record;

DROP TABLE v1_override_reason;
DROP TABLE v1_dkim_result;
DROP TABLE v1_spf_result;
DROP TABLE v1_record;
DROP TABLE temp.v1_position;
DROP TABLE temp.v1_auth;
