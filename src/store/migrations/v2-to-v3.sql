-- Version 2 to 3: conflicting copies of stored reports, and reports by the
-- end of their range (see schema.sql for what each is and why). Defined
-- here exactly as in schema.sql.

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

CREATE INDEX report_date_end ON report (date_end);
