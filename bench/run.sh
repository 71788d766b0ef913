#!/usr/bin/env bash
# bench/run.sh: dmarcdb's speed and memory benchmark (issue 5).
#
# Generates the corpora under target/bench/ with `dmarcdb generate`
# (deterministic), installs parsedmarc into target/bench/venv if missing,
# then measures, with hyperfine (whole process, several runs, median):
#   1. `dmarcdb ingest` vs `parsedmarc --offline` on 200 reports x 100 records (gz);
#   2. one report of 200,000 records (~134 MB of XML, gz): time and peak RSS;
#   3. re-ingest of the stored corpus of 1. (all duplicates) vs its first ingest;
#   4. `query sources --days 7`, `daily`, `senders --days 30`, `alert`,
#      `readiness`, `report --html` (7 and 30 days) and the `serve`
#      dashboard's pages (overview, API, drill-down) on 10 million records;
#   5. `dmarcdb imap` of 2,000 report mails from a real Dovecot through a
#      latency proxy at 0, 20 and 100 ms round trip (one run each): time,
#      messages/s, round trips and commands (examples/imap_bench.rs).
#   6. ingest vs parsedmarc on a corpus shaped like real traffic, built by
#      bench/real_corpus.py from the real reports in ../shared/corpus.
#   7. ingest of 1. and 2. into PostgreSQL (a throwaway local cluster), the
#      copy of 4.'s database into it, and 4.'s views and alert there.
# Prints one table and rewrites the results section of bench/README.md.
#
# Environment knobs (defaults in brackets):
#   DMARCDB_BIN  binary to measure [target/release/dmarcdb, built if missing]
#   RUNS [10]  PM_RUNS [3]  BIG_RUNS [5]  QUERY_RUNS [10]
#   BIG_RECORDS [200000]  DB_REPORTS [1000]  DB_RECORDS [10000]
#   IMAP_MESSAGES [2000]  IMAP_RTTS [0,20,100]  REAL_REPORTS [200]
#   SKIP_PARSEDMARC=1  skip parsedmarc (no network)
#   SKIP_IMAP=1        skip item 5 (needs Dovecot: apt-get install dovecot-imapd)
#   ONLY_IMAP=1        run item 5 alone and print it (README untouched)
#   NO_README=1        do not rewrite bench/README.md
#   ONLY=1,2,6         run only these items (comma-separated numbers) and
#                      print their rows; README untouched unless README=1
#   SKIP_POSTGRES=1    skip 5. (also skipped when PostgreSQL is not installed)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/bench
RUNS=${RUNS:-10}
PM_RUNS=${PM_RUNS:-3}
BIG_RUNS=${BIG_RUNS:-5}
QUERY_RUNS=${QUERY_RUNS:-10}
BIG_RECORDS=${BIG_RECORDS:-200000}
DB_REPORTS=${DB_REPORTS:-1000}
DB_RECORDS=${DB_RECORDS:-10000}
REAL_REPORTS=${REAL_REPORTS:-200}
SKIP_PARSEDMARC=${SKIP_PARSEDMARC:-0}
SKIP_IMAP=${SKIP_IMAP:-0}
ONLY_IMAP=${ONLY_IMAP:-0}
[ "$ONLY_IMAP" = 1 ] && SKIP_PARSEDMARC=1
ONLY=${ONLY:-}
[ "$ONLY_IMAP" = 1 ] && ONLY=5
# want N: whether item N is to run (all of them unless ONLY names some).
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
if [ -n "$ONLY" ] && [ "${README:-0}" != 1 ]; then NO_README=1; fi
IMAP_MESSAGES=${IMAP_MESSAGES:-2000}
IMAP_RTTS=${IMAP_RTTS:-0,20,100}
mkdir -p "$OUT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
apt_install() {
    command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || die "please install $1"
    apt-get install -y "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$1" >/dev/null; }
}
command -v hyperfine >/dev/null || apt_install hyperfine
[ -x /usr/bin/time ] || apt_install time
command -v python3 >/dev/null || die "python3 is needed (JSON, and parsedmarc)"

if [ -n "${DMARCDB_BIN:-}" ]; then
    BIN=$DMARCDB_BIN
else
    BIN=target/release/dmarcdb
    cargo build --release --quiet
fi
[ -x "$BIN" ] || die "no binary at $BIN"
# The binary is run from pages read from disk, as after an install or a
# reboot, not from those the linker left in the page cache when it wrote
# the file: run from those, the same bytes took 0.2-0.6 ms more a run in
# item 3 than a copy of them, and as much as the copy once they were
# dropped and read again (bench/README.md, twelfth round).
sync "$BIN" 2>/dev/null || sync
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$BIN" || true

PM=$OUT/venv/bin/parsedmarc
if [ "$SKIP_PARSEDMARC" != 1 ] && [ ! -x "$PM" ]; then
    say "installing parsedmarc into $OUT/venv"
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet parsedmarc
fi

# --- helpers -----------------------------------------------------------------
# gen DIR ARGS...: (re)generates a corpus unless DIR was made with the same ARGS.
gen() {
    local dir=$1; shift
    local stamp="$dir.stamp"
    if [ ! -d "$dir" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$*" ]; then
        say "generating $dir ($*)"
        rm -rf "$dir"
        "$BIN" generate --out "$dir" "$@" >&2
        echo "$*" >"$stamp"
    fi
}
rmdb() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }
# median JSON...: the median of every run in hyperfine's JSON files (the
# ones that exist), in seconds.
median() {
    python3 -c 'import json, os, statistics, sys
t = [x for f in sys.argv[1:] if os.path.exists(f) for x in json.load(open(f))["results"][0]["times"]]
print(statistics.median(t))' "$@"
}
# rss_mib CMD...: peak RSS of one run, in MiB (GNU time).
rss_mib() {
    /usr/bin/time -v "$@" >/dev/null 2>"$OUT/time.txt" || { cat "$OUT/time.txt" >&2; die "failed: $*"; }
    awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$OUT/time.txt"
}
calc() { python3 -c "print($1)"; }
# expect OUTPUT TEXT: the summary line must say TEXT.
expect() { grep -qF "$2" <<<"$1" || die "expected '$2', got: $1"; }
HF=(hyperfine --style basic --export-json)

# --- 5. IMAP at a distance (run first: it needs no corpus) ----------------------
# One run per round trip (each starts its own Dovecot with the mail already
# in its maildir): a timing of one run is noisy on a shared machine.
IMAP_ROWS=()
if [ "$SKIP_IMAP" != 1 ] && want 5; then
    command -v dovecot >/dev/null || apt_install dovecot-imapd
    say "5. dmarcdb imap, $IMAP_MESSAGES report mails, round trips $IMAP_RTTS ms"
    cargo build --release --quiet --example imap_bench
    target/release/examples/imap_bench "$BIN" "$IMAP_MESSAGES" "$IMAP_RTTS" >"$OUT/imap.tsv"
    cat "$OUT/imap.tsv" >&2
    while IFS=$'\t' read -r rtt secs rate trips cmds search fetch store; do
        [ "$rtt" = rtt_ms ] && continue
        case $rtt in 20) target="< 3 s" ;; 100) target="< 10 s" ;; *) target="" ;; esac
        IMAP_ROWS+=("5. imap, $IMAP_MESSAGES report mails, ${rtt} ms round trip (1 run)|$secs s = $rate msg/s, $trips round trips|$target")
        IMAP_ROWS+=("5. commands sent at ${rtt} ms: SEARCH / FETCH / STORE (all)|$search / $fetch / $store ($cmds)|")
    done <"$OUT/imap.tsv"
fi
if [ "$ONLY_IMAP" = 1 ]; then
    for r in "${IMAP_ROWS[@]}"; do printf '| %s |\n' "${r//|/ | }"; done
    exit 0
fi

# --- 1. ingest vs parsedmarc ---------------------------------------------------
C200=$OUT/c200
DB=$OUT/c200.sqlite
if want 1 || want 3 || want 7; then
    gen "$C200" --reports 200 --records 100 --format gz --seed 1
fi
T_INGEST=""; T_PM=""; PM_RECORDS=""; RSS_PM=""
if want 1; then
say "1. dmarcdb ingest, 200 reports x 100 records"
rmdb "$DB"
expect "$("$BIN" --db "$DB" ingest "$C200")" "200 new report(s) (20000 records)"
# Timed before and after parsedmarc, the median taken over both sets: a
# machine that slows down in between (this one does) then moves both sides
# of the ratio alike.
time_ingest() {
    "${HF[@]}" "$1" --runs "$RUNS" --warmup 1 --prepare "rm -f $DB $DB-wal $DB-shm" \
        "$BIN --db $DB ingest $C200" >&2
}
rm -f "$OUT/h-ingest-after.json"
time_ingest "$OUT/h-ingest.json"
rmdb "$DB"
RSS_INGEST=$(rss_mib "$BIN" --db "$DB" ingest "$C200")

if [ "$SKIP_PARSEDMARC" != 1 ]; then
    say "1. parsedmarc --offline, same files"
    PMOUT=$OUT/parsedmarc-out
    "${HF[@]}" "$OUT/h-parsedmarc.json" --runs "$PM_RUNS" --prepare "rm -rf $PMOUT" \
        "$PM --offline --silent -o $PMOUT $C200" >&2
    T_PM=$(median "$OUT/h-parsedmarc.json")
    # It must really have parsed everything: count its JSON output.
    PM_RECORDS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(len(r["records"]) for r in d))' "$PMOUT/aggregate.json")
    [ "$PM_RECORDS" = 20000 ] || die "parsedmarc output holds $PM_RECORDS records, not 20000"
    rm -rf "$PMOUT"
    RSS_PM=$(rss_mib "$PM" --offline --silent -o "$PMOUT" "$C200")
    say "1. dmarcdb ingest again, after parsedmarc"
    time_ingest "$OUT/h-ingest-after.json"
    rmdb "$DB"
fi
T_INGEST=$(median "$OUT/h-ingest.json" "$OUT/h-ingest-after.json")
fi

# --- 3. re-ingest (all duplicates) ---------------------------------------------
T_REINGEST=""
if want 3; then
say "3. re-ingest of the stored corpus"
rmdb "$DB"
"$BIN" --db "$DB" ingest "$C200" >/dev/null
expect "$("$BIN" --db "$DB" ingest "$C200")" "0 new report(s) (0 records), 200 already stored"
"${HF[@]}" "$OUT/h-reingest.json" --runs "$RUNS" --warmup 1 "$BIN --db $DB ingest $C200" >&2
T_REINGEST=$(median "$OUT/h-reingest.json")
fi

# --- 6. a corpus shaped like real traffic ----------------------------------------
# Built from the real reports of ../shared/corpus (read in place), under
# target/bench only; see bench/real_corpus.py for its shape.
REAL=$OUT/real
REALDB=$OUT/real.sqlite
CORPUS=../shared/corpus
REAL_STAMP="$REAL_REPORTS $(sha256sum bench/real_corpus.py | cut -c1-16)"
T_REAL=""; T_PM_REAL=""; PM_REAL_RECORDS=""
if want 6; then
if [ ! -d "$REAL" ] || [ "$(cat "$REAL.stamp" 2>/dev/null)" != "$REAL_STAMP" ]; then
    [ -d "$CORPUS/parsedmarc/aggregate" ] || die "no corpus at $CORPUS"
    say "generating $REAL from $CORPUS"
    rm -rf "$REAL"
    python3 bench/real_corpus.py "$CORPUS" "$REAL" "$REAL_REPORTS" 1 >"$REAL.count"
    echo "$REAL_STAMP" >"$REAL.stamp"
fi
REAL_RECORDS=$(cut -d' ' -f2 "$REAL.count")
say "6. dmarcdb ingest, real-traffic corpus ($REAL_REPORTS reports, $REAL_RECORDS records)"
rmdb "$REALDB"
expect "$("$BIN" --db "$REALDB" ingest "$REAL")" "$REAL_REPORTS new report(s) ($REAL_RECORDS records)"
"${HF[@]}" "$OUT/h-real.json" --runs "$RUNS" --warmup 1 --prepare "rm -f $REALDB $REALDB-wal $REALDB-shm" \
    "$BIN --db $REALDB ingest $REAL" >&2
T_REAL=$(median "$OUT/h-real.json")
rmdb "$REALDB"
if [ "$SKIP_PARSEDMARC" != 1 ]; then
    say "6. parsedmarc --offline, real-traffic corpus"
    PMOUT=$OUT/parsedmarc-out
    "${HF[@]}" "$OUT/h-parsedmarc-real.json" --runs "$PM_RUNS" --prepare "rm -rf $PMOUT" \
        "$PM --offline --silent -o $PMOUT $REAL" >&2
    T_PM_REAL=$(median "$OUT/h-parsedmarc-real.json")
    PM_REAL_RECORDS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(len(r["records"]) for r in d))' "$PMOUT/aggregate.json")
    rm -rf "$PMOUT"
fi
fi

# --- 2. one huge report ----------------------------------------------------------
BIG=$OUT/big
BIGDB=$OUT/big.sqlite
if want 2 || want 7; then
    gen "$BIG" --reports 1 --records "$BIG_RECORDS" --format gz --seed 2
fi
T_BIG=""
if want 2; then
BIG_XML_MB=$(calc "$(zcat "$BIG"/*.gz | wc -c) / 1e6")
say "2. one report of $BIG_RECORDS records (${BIG_XML_MB%.*} MB XML)"
rmdb "$BIGDB"
expect "$("$BIN" --db "$BIGDB" ingest "$BIG")" "1 new report(s) ($BIG_RECORDS records)"
"${HF[@]}" "$OUT/h-big.json" --runs "$BIG_RUNS" --prepare "rm -f $BIGDB $BIGDB-wal $BIGDB-shm" \
    "$BIN --db $BIGDB ingest $BIG" >&2
T_BIG=$(median "$OUT/h-big.json")
rmdb "$BIGDB"
RSS_BIG=$(rss_mib "$BIN" --db "$BIGDB" ingest "$BIG")
# Flat memory: a report ten times smaller should need about as much.
SMALL=$OUT/big-tenth
gen "$SMALL" --reports 1 --records "$((BIG_RECORDS / 10))" --format gz --seed 2
rmdb "$BIGDB"
RSS_SMALL=$(rss_mib "$BIN" --db "$BIGDB" ingest "$SMALL")
rmdb "$BIGDB"
fi

# --- 4. queries on 10 million records -------------------------------------------
declare -A T_QUERY
QUERIES=()
if want 4; then
TODAY=$(date -u +%F)
C10M=$OUT/c10m
DB10M=$OUT/c10m.sqlite
gen "$C10M" --reports "$DB_REPORTS" --records "$DB_RECORDS" --format gz --seed 3 \
    --days-back 365 --end-date "$TODAY"
N10M=$((DB_REPORTS * DB_RECORDS))
DBSTAMP="$(sha256sum "$BIN" | cut -c1-16) $(cat "$C10M.stamp")"
if [ ! -f "$DB10M" ] || [ "$(cat "$DB10M.stamp" 2>/dev/null)" != "$DBSTAMP" ]; then
    say "4. building the $N10M-record database (timed: a big backfill)"
    rmdb "$DB10M"
    S=$(date +%s.%N)
    expect "$("$BIN" --db "$DB10M" ingest "$C10M")" "$DB_REPORTS new report(s) ($N10M records)"
    T_BUILD=$(calc "$(date +%s.%N) - $S")
    echo "$T_BUILD" >"$DB10M.build-time"
    # The first alert after the backfill reads the IP hashes of every report
    # before its window (report_ips, written with each report; schema 2-3
    # built a sender table from every record here instead); timed once.
    say "4. first alert after the backfill"
    S=$(date +%s.%N)
    "$BIN" --db "$DB10M" alert --days 7 --our-net 203.0.113.0/24 >/dev/null || true
    calc "$(date +%s.%N) - $S" >"$DB10M.first-alert-time"
    echo "$DBSTAMP" >"$DB10M.stamp"
fi
T_BUILD=$(cat "$DB10M.build-time")
T_FIRST_ALERT=$(cat "$DB10M.first-alert-time" 2>/dev/null || echo 0)
DB10M_MB=$(calc "$(stat -c %s "$DB10M") / 1e6")

for view in "sources --days 7" "daily" "senders --days 30"; do
    if "$BIN" --db "$DB10M" query $view --format csv >/dev/null 2>&1; then
        QUERIES+=("$view")
    elif [[ " ${QUERIES[*]} " != *" reports "* ]]; then
        echo "bench: 'query $view' is not available in this build; measuring 'query reports' instead" >&2
        QUERIES+=("reports")
    fi
done
for view in "${QUERIES[@]}"; do
    say "4. query $view on $N10M records"
    f="$OUT/h-query-${view%% *}.json"
    "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 "$BIN --db $DB10M query $view --format csv" >&2
    T_QUERY[$view]=$(median "$f")
done
say "4. alert on $N10M records"
f="$OUT/h-alert.json"
"${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 -i \
    "$BIN --db $DB10M alert --days 7 --our-net 203.0.113.0/24" >&2
T_ALERT=$(median "$f")
T_READY=0
if "$BIN" readiness --help >/dev/null 2>&1; then
    say "4. readiness on $N10M records"
    f="$OUT/h-readiness.json"
    "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 -i \
        "$BIN --db $DB10M readiness --domain example.com --days 30 --our-net 203.0.113.0/24" >&2
    T_READY=$(median "$f")
fi
# The HTML report and the dashboard (issue 13: each within 2 s).
T_HTML=(); HTML_DAYS=(7 30)
if "$BIN" report --help >/dev/null 2>&1; then
    for d in "${HTML_DAYS[@]}"; do
        say "4. report --html, $d days, on $N10M records"
        f="$OUT/h-html-$d.json"
        "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 \
            "$BIN --db $DB10M report --html $OUT/report-$d.html --days $d" >&2
        T_HTML+=("$(median "$f")")
    done
fi
PAGE_NAMES=(); T_PAGE=()
if "$BIN" serve --help >/dev/null 2>&1 && command -v curl >/dev/null; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$BIN" --db "$DB10M" serve --listen "127.0.0.1:$PORT" --our-net 203.0.113.0/24 >/dev/null 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/reports?limit=1" && break; sleep 0.1; done
    URL="http://127.0.0.1:$PORT"
    # The last report stored (row ids count from 1), and the largest source.
    REPORT_ID=$DB_REPORTS
    IP=$("$BIN" --db "$DB10M" query sources --days 7 --limit 1 --format csv | awk -F, 'NR == 2 { print $1 }')
    for page in "/?days=7" "/?days=30" "/api/sources?days=7" "/api/senders?days=30" \
        "/source?ip=$IP&days=7" "/source?ip=$IP&days=30" "/report?id=$REPORT_ID"; do
        say "4. dashboard $page on $N10M records"
        f="$OUT/h-page-${#PAGE_NAMES[@]}.json"
        "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 "curl -sf -o /dev/null '$URL$page'" >&2
        PAGE_NAMES+=("$page"); T_PAGE+=("$(median "$f")")
    done
    kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
fi
fi

# --- 7. PostgreSQL ------------------------------------------------------------------
# A throwaway cluster (as the postgres user when root: PostgreSQL refuses
# root) on a free port, stopped on exit; each timed run gets a new database.
T_PG=""; T_PG_BIG=""; T_PG_COPY=""; T_PG_ALERT=""; T_PG_READY=""; T_PG_FIRST_ALERT=0
declare -A T_PG_QUERY
PG_QUERIES=()
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ "${SKIP_POSTGRES:-0}" != 1 ] && [ -n "$PGBIN" ] && want 7; then
    say "7. PostgreSQL: starting a throwaway cluster"
    PGDIR=$(mktemp -d /tmp/dmarcdb-bench-pg.XXXXXX)
    PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    AS_PG=""
    [ "$(id -u)" = 0 ] && AS_PG="runuser -u postgres --"
    as_pg() { $AS_PG "$@"; }
    [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
    as_pg "$PGBIN/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$PGDIR/data" >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
        -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
    trap 'as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null; rm -rf "$PGDIR"' EXIT
    PGURL="postgres://postgres@127.0.0.1:$PGPORT"
    # A new, empty database "bench" (hyperfine's --prepare runs it).
    NEWDB=$PGDIR/newdb.sh
    {
        echo "$PGBIN/psql -h 127.0.0.1 -p $PGPORT -U postgres -q \\"
        echo "    -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' postgres"
    } >"$NEWDB"
    newdb() { as_pg bash "$NEWDB"; }
    newdb
    expect "$("$BIN" --db "$PGURL/bench?sslmode=disable" ingest "$C200")" "200 new report(s) (20000 records)"
    say "7. dmarcdb ingest into PostgreSQL, 200 reports x 100 records"
    # Each timed run gets a new database with the schema in place (made
    # by a first connection, once per database: 0.1-0.3 s of DDL that is
    # not ingest).
    PREP_PG="$AS_PG bash $NEWDB && $BIN --db $PGURL/bench?sslmode=disable query daily >/dev/null"
    "${HF[@]}" "$OUT/h-pg-ingest.json" --runs "$RUNS" --warmup 1 \
        --prepare "$PREP_PG" \
        "$BIN --db $PGURL/bench?sslmode=disable ingest $C200" >&2
    T_PG=$(median "$OUT/h-pg-ingest.json")
    say "7. one report of $BIG_RECORDS records into PostgreSQL"
    "${HF[@]}" "$OUT/h-pg-big.json" --runs "$BIG_RUNS" \
        --prepare "$PREP_PG" \
        "$BIN --db $PGURL/bench?sslmode=disable ingest $BIG" >&2
    T_PG_BIG=$(median "$OUT/h-pg-big.json")

    # The views on the 10M-record database of 4., copied in (timed once).
    say "7. copying the $N10M-record database into PostgreSQL"
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -q -c 'CREATE DATABASE c10m' postgres
    PG10M="$PGURL/c10m?sslmode=disable"
    S=$(date +%s.%N)
    expect "$("$BIN" copy --from "$DB10M" --to "$PG10M")" "$DB_REPORTS report(s) copied ($N10M records)"
    T_PG_COPY=$(calc "$(date +%s.%N) - $S")
    LOAD_PG_COPY=$(cut -d' ' -f1-3 /proc/loadavg)
    # What the server does once after a bulk load (autovacuum would, later).
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -q -c 'VACUUM ANALYZE' c10m
    for view in "${QUERIES[@]}"; do
        "$BIN" --db "$PG10M" query $view --format csv >/dev/null 2>&1 || continue
        say "7. query $view on $N10M records in PostgreSQL"
        f="$OUT/h-pg-query-${view%% *}.json"
        "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 "$BIN --db $PG10M query $view --format csv" >&2
        T_PG_QUERY[$view]=$(median "$f")
        PG_QUERIES+=("$view")
    done
    # The first alert after the copy (report_ips came with each report), timed once.
    say "7. first alert on PostgreSQL after the copy"
    S=$(date +%s.%N)
    "$BIN" --db "$PG10M" alert --days 7 --our-net 203.0.113.0/24 >/dev/null || true
    T_PG_FIRST_ALERT=$(calc "$(date +%s.%N) - $S")
    say "7. alert on $N10M records in PostgreSQL"
    f="$OUT/h-pg-alert.json"
    "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 -i \
        "$BIN --db $PG10M alert --days 7 --our-net 203.0.113.0/24" >&2
    T_PG_ALERT=$(median "$f")
    READY_CMD="readiness --domain example.com --days 30 --our-net 203.0.113.0/24"
    if "$BIN" readiness --help >/dev/null 2>&1 &&
        ! "$BIN" --db "$PG10M" $READY_CMD 2>&1 >/dev/null | grep -q "not supported"; then
        say "7. readiness on $N10M records in PostgreSQL"
        f="$OUT/h-pg-readiness.json"
        "${HF[@]}" "$f" --runs "$QUERY_RUNS" --warmup 1 -i "$BIN --db $PG10M $READY_CMD" >&2
        T_PG_READY=$(median "$f")
    fi
fi

# --- the table -------------------------------------------------------------------
[ -n "$T_INGEST" ] && R_INGEST=$(calc "round(20000 / $T_INGEST)")
[ -n "$T_BIG" ] && R_BIG=$(calc "round($BIG_RECORDS / $T_BIG)")
want 4 && R_BUILD=$(calc "round($N10M / $T_BUILD)")
[ -n "$T_INGEST" ] && [ -n "$T_REINGEST" ] && REINGEST_X=$(calc "round($T_INGEST / $T_REINGEST, 1)")
ms() { calc "round($1 * 1000, 1)"; }
row() { printf '| %-58s | %28s | %-22s |\n' "$1" "$2" "$3"; }
table() {
    row "Measure" "Result" "Target"
    row "---" "---:" "---"
    if want 1; then
    row "1. dmarcdb ingest, 200 x 100 records gz (median)" "$(ms "$T_INGEST") ms = $R_INGEST rec/s" ">= 500,000 rec/s"
    if [ -n "$T_PM" ]; then
        local r_pm ratio
        r_pm=$(calc "round(20000 / $T_PM)")
        ratio=$(calc "round($T_PM / $T_INGEST)")
        row "1. parsedmarc --offline, same files (median)" "$(ms "$T_PM") ms = $r_pm rec/s" ""
        row "1. ratio dmarcdb / parsedmarc (records/s)" "${ratio}x" ">= 200x"
        row "1. peak RSS dmarcdb / parsedmarc" "$RSS_INGEST / $RSS_PM MiB" ""
    else
        row "1. parsedmarc" "skipped" ">= 200x"
    fi
    fi
    if want 2; then
    row "2. one report, $BIG_RECORDS records, ${BIG_XML_MB%.*} MB XML gz (median)" "$(ms "$T_BIG") ms = $R_BIG rec/s" ">= 800,000 rec/s"
    row "2. peak RSS, $BIG_RECORDS records / $((BIG_RECORDS / 10)) records" "$RSS_BIG / $RSS_SMALL MiB" "< 64 MiB, flat"
    fi
    if want 3; then
    row "3. re-ingest, all 200 duplicates (median)" "$(ms "$T_REINGEST") ms" ""
    [ -n "$T_INGEST" ] && row "3. first ingest / re-ingest" "${REINGEST_X}x" ">= 5x"
    fi
    if want 4; then
    row "4. building the $((N10M / 1000000))M-record DB ($DB_REPORTS reports, ${DB10M_MB%.*} MB)" "$(calc "round($T_BUILD, 1)") s = $R_BUILD rec/s" ""
    for view in "${QUERIES[@]}"; do
        row "4. query $view, $((N10M / 1000000))M records (median)" "$(ms "${T_QUERY[$view]}") ms" "< 1000 ms"
    done
    row "4. first alert after the backfill" "$(calc "round($T_FIRST_ALERT, 1)") s" ""
    row "4. alert, $((N10M / 1000000))M records (median)" "$(ms "$T_ALERT") ms" ""
    row "4. readiness --days 30, $((N10M / 1000000))M records (median)" "$(ms "$T_READY") ms" "< 1000 ms"
    local i
    for i in "${!T_HTML[@]}"; do
        row "4. report --html --days ${HTML_DAYS[$i]}, $((N10M / 1000000))M records (median)" "$(ms "${T_HTML[$i]}") ms" "< 2000 ms"
    done
    for i in "${!T_PAGE[@]}"; do
        row "4. serve: GET ${PAGE_NAMES[$i]} (median)" "$(ms "${T_PAGE[$i]}") ms" "< 2000 ms"
    done
    fi
    local r
    for r in "${IMAP_ROWS[@]}"; do
        IFS='|' read -r a b c <<<"$r"
        row "$a" "$b" "$c"
    done
    if want 6; then
    row "6. dmarcdb ingest, real-traffic corpus, $REAL_REPORTS reports / $REAL_RECORDS records (median)" "$(ms "$T_REAL") ms = $(calc "round($REAL_RECORDS / $T_REAL)") rec/s" ""
    if [ -n "$T_PM_REAL" ]; then
        row "6. parsedmarc --offline, same files, $PM_REAL_RECORDS records out (median)" "$(ms "$T_PM_REAL") ms = $(calc "round($REAL_RECORDS / $T_PM_REAL)") rec/s" ""
        row "6. ratio dmarcdb / parsedmarc (records/s)" "$(calc "round($T_PM_REAL / $T_REAL)")x" ""
    fi
    fi
    if [ -n "$T_PG" ]; then
        row "7. PostgreSQL ingest, 200 x 100 records gz (median)" "$(ms "$T_PG") ms = $(calc "round(20000 / $T_PG)") rec/s" ">= 100,000 rec/s"
        row "7. PostgreSQL ingest, one report of $BIG_RECORDS records" "$(ms "$T_PG_BIG") ms = $(calc "round($BIG_RECORDS / $T_PG_BIG)") rec/s" ">= 100,000 rec/s"
        row "7. copy of the $((N10M / 1000000))M-record DB into PostgreSQL (1 run, load $LOAD_PG_COPY)" "$(calc "round($T_PG_COPY, 1)") s = $(calc "round($N10M / $T_PG_COPY)") rec/s" ""
        for view in "${PG_QUERIES[@]}"; do
            row "7. PostgreSQL query $view, $((N10M / 1000000))M records (median)" "$(ms "${T_PG_QUERY[$view]}") ms" "< 1000 ms"
        done
        row "7. PostgreSQL first alert after the copy" "$(calc "round($T_PG_FIRST_ALERT, 1)") s" ""
        row "7. PostgreSQL alert, $((N10M / 1000000))M records (median)" "$(ms "$T_PG_ALERT") ms" "< 1000 ms"
        if [ -n "$T_PG_READY" ]; then
            row "7. PostgreSQL readiness --days 30, $((N10M / 1000000))M records (median)" "$(ms "$T_PG_READY") ms" "< 1000 ms"
        fi
    elif want 7; then
        row "7. PostgreSQL" "skipped" ""
    fi
}
machine() {
    local cpu ram
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    ram=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "Machine: $(nproc) CPU ($cpu), $ram RAM, $(uname -sr)."
    echo "Binary: dmarcdb $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'); parsedmarc ${PM_VERSION:-not run}; $(hyperfine --version)."
    echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC')${ONLY:+, items $ONLY}, load average $LOAD_START at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end; runs per median: ingest 2 x $RUNS (before and after parsedmarc), parsedmarc $PM_RUNS, big $BIG_RUNS, queries $QUERY_RUNS."
}
[ -x "$OUT/venv/bin/pip" ] && PM_VERSION=$("$OUT/venv/bin/pip" show parsedmarc 2>/dev/null | awk '/^Version/ { print $2 }')
RESULT=$(printf '%s\n\n%s\n' "$(machine)" "$(table)")
printf '\n%s\n' "$RESULT"

if [ "${NO_README:-0}" != 1 ]; then
    python3 - "$RESULT" <<'EOF'
import re, sys
path = "bench/README.md"
text = open(path).read()
begin, end = "<!-- results:begin -->", "<!-- results:end -->"
new = f"{begin}\n{sys.argv[1]}\n{end}"
text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: new, text, flags=re.S)
open(path, "w").write(text)
EOF
    echo "(results written to bench/README.md)" >&2
fi
