//! The example Grafana dashboard (`contrib/grafana/dmarcdb-postgres.json`)
//! names only tables and columns that exist on PostgreSQL, and its panels
//! find rows in a few stored reports. The server is the tests' throwaway
//! cluster (`tests/common/postgres.rs`); without it the test skips, unless
//! `CI=true`.

mod fixture;
#[path = "support/pg_reports.rs"]
mod pg_reports;

use pg_reports::{pg_env, reports};

/// The panels' SQL of the example Grafana dashboard, with Grafana's macros
/// replaced by what they expand to.
fn dashboard_sql() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/grafana/dmarcdb-postgres.json"
    );
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 3);
    let mut out = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap().to_string();
        for t in p["targets"].as_array().unwrap() {
            let sql = t["rawSql"].as_str().expect("rawSql");
            let sql = sql
                .replace(
                    "$__timeGroupAlias(r.begin_at, 1d)",
                    "date_trunc('day', r.begin_at) AS time",
                )
                .replace("$__unixEpochFrom()", "0")
                .replace("$__unixEpochTo()", "4000000000");
            assert!(
                !sql.contains("$__"),
                "{title}: a macro the test does not know: {sql}"
            );
            out.push((title.clone(), sql));
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_names_only_tables_and_columns_that_exist() {
    let Some(env) = pg_env() else { return };
    env.ingest(&reports());
    let url = env.url.clone().unwrap();
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    for (title, sql) in dashboard_sql() {
        // Planning fails on any table or column that does not exist; the
        // panels must also find something in a few reports.
        let rows = c
            .query(sql.as_str(), &[])
            .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
        assert!(!rows.is_empty(), "{title}: no rows");
    }
}
