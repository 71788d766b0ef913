-- Version 5 to 6: report_blob's kept bytes indexed by their digest, so
-- that an input that is the very same bytes as a stored report (the same
-- file again) is told from them alone, before anything is inflated or
-- parsed. Defined exactly as in schema.sql (a test compares).

CREATE INDEX report_blob_sha256 ON report_blob (sha256);
