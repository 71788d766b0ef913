-- PostgreSQL migration 3 (numbered after the one that adds SMTP TLS and
-- failure reports): sender intelligence as on SQLite.
--
-- report_ips replaces the `sender` table as the answer to the "new sender"
-- alert, as it did on SQLite (schema.sql): each report's source IPs as
-- hashes, written with the report. Reports stored before this migration
-- get their row from their records when the alert next asks.
-- net_fact and rdns hold what `dmarcdb enrich` learns about source IPs.

DROP TABLE IF EXISTS sender;
DELETE FROM state WHERE key = 'sender_report';

CREATE TABLE report_ips (
    report          bigint  PRIMARY KEY,
    hashes          bytea   NOT NULL
);

CREATE TABLE net_fact (
    ip              text    COLLATE "C" PRIMARY KEY,
    addr            inet,
    asn             bigint,
    as_name         text    COLLATE "C",
    as_domain       text    COLLATE "C",
    country         text    COLLATE "C",
    looked_up_at    bigint  NOT NULL,
    looked_up       timestamptz GENERATED ALWAYS AS (to_timestamp(looked_up_at)) STORED
);

CREATE TABLE rdns (
    ip              text    COLLATE "C" PRIMARY KEY,
    addr            inet,
    ptr             text    COLLATE "C",
    confirmed       boolean NOT NULL,
    looked_up_at    bigint  NOT NULL,
    looked_up       timestamptz GENERATED ALWAYS AS (to_timestamp(looked_up_at)) STORED
);
