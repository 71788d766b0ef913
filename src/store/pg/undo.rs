//! Taking a report out of the open transaction when it fails part-way
//! (a record that does not parse, no record at all), on PostgreSQL: its
//! `report` row, what a load wrote of it already (records, override
//! reasons) and the auth-result sets it was the first to use that a load
//! stored, so that the database is as if the report had never come, as on
//! SQLite (`store/undo.rs`). Its original bytes, totals and `report_ips`
//! row are only written with its end, so there are none. What of it still
//! waits in the buffer is the loader's to drop (`load.rs`).
//!
//! One statement, and only on failure: the write path of a report that
//! succeeds does not change.

use super::super::DbError;
use super::Conn;

/// Deletes report `id`'s row, its records and reasons when some were
/// `loaded`, and the auth-result sets `sets` (stored for it alone).
pub(super) fn remove(
    client: &mut Conn,
    id: i64,
    loaded: bool,
    sets: &[i64],
) -> Result<(), DbError> {
    match (loaded, sets.is_empty()) {
        (false, true) => {
            client.execute("DELETE FROM report WHERE id = $1", &[&id])?;
        }
        (true, true) => {
            client.execute(
                "WITH r AS (DELETE FROM record WHERE report = $1),
                 o AS (DELETE FROM override_reason WHERE report = $1)
                 DELETE FROM report WHERE id = $1",
                &[&id],
            )?;
        }
        // Sets are stored only by a load, so some rows were loaded too.
        (_, false) => {
            client.execute(
                "WITH r AS (DELETE FROM record WHERE report = $1),
                 o AS (DELETE FROM override_reason WHERE report = $1),
                 d AS (DELETE FROM dkim_result WHERE auth_set = ANY($2)),
                 s AS (DELETE FROM spf_result WHERE auth_set = ANY($2)),
                 a AS (DELETE FROM auth_set WHERE id = ANY($2))
                 DELETE FROM report WHERE id = $1",
                &[&id, &sets],
            )?;
        }
    }
    Ok(())
}
