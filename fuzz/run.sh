#!/usr/bin/env bash
# fuzz/run.sh: seed the corpora and run dmarcdb's fuzz targets one after
# another (see fuzz/README.md).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     defaults: 600, all of extract parse mail tls arf
#
# The corpora (fuzz/corpus/TARGET) are seeded at run time from samples/ and
# from `dmarcdb generate`, never committed (fuzz/.gitignore). Crashes land in
# fuzz/artifacts/TARGET; a run's log in fuzz/logs/TARGET.log.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The stable toolchain works
# with RUSTC_BOOTSTRAP=1, set here. One job and one worker at a time: the
# machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(extract parse mail tls arf)
export RUSTC_BOOTSTRAP=1
# Release with debug assertions and overflow checks (set in fuzz/Cargo.toml);
# no sanitizer: the code under test is safe Rust, and what we hunt is
# panics, hangs and memory.
build_flags=(-s none -O)

seed() {
    local gen
    gen=$(mktemp -d)
    trap 'rm -rf "$gen"' RETURN
    mkdir -p fuzz/corpus/extract fuzz/corpus/parse fuzz/corpus/mail fuzz/corpus/tls fuzz/corpus/arf
    cargo build --quiet --bin dmarcdb
    for fmt in xml gz zip eml; do
        target/debug/dmarcdb generate --reports 4 --records 3 --seed 7 \
            --format "$fmt" --out "$gen/$fmt" >/dev/null 2>&1 || true
    done
    # extract: anything at all, as received.
    cp samples/* fuzz/corpus/extract/
    cp "$gen"/*/* fuzz/corpus/extract/ 2>/dev/null || true
    # parse: report XML only.
    cp samples/*.xml fuzz/corpus/parse/
    cp "$gen"/xml/* fuzz/corpus/parse/ 2>/dev/null || true
    for f in samples/*.gz; do gunzip -c "$f" >"fuzz/corpus/parse/$(basename "$f" .gz)"; done
    for f in samples/*.zip; do unzip -p "$f" >"fuzz/corpus/parse/$(basename "$f" .zip).xml"; done
    # mail: RFC 822 messages.
    cp samples/*.eml fuzz/corpus/mail/
    cp "$gen"/eml/* fuzz/corpus/mail/ 2>/dev/null || true
    # tls: SMTP TLS report JSON; arf: failure report mail.
    cp samples/*.json fuzz/corpus/tls/
    for f in samples/*.json.gz; do gunzip -c "$f" >"fuzz/corpus/tls/$(basename "$f" .gz)"; done
    cp samples/failure-*.eml fuzz/corpus/arf/
}

seed
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    cargo fuzz build "${build_flags[@]}" "$t"
    echo "fuzz/run.sh: $t for ${secs}s (log: fuzz/logs/$t.log)"
    start=$(date +%s)
    status=0
    cargo fuzz run "${build_flags[@]}" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len=262144 \
        -dict=fuzz/xml.dict -print_final_stats=1 >"fuzz/logs/$t.log" 2>&1 || status=$?
    end=$(date +%s)
    echo "fuzz/run.sh: $t ran $((end - start))s, exit $status; $(grep -E '^stat::number_of_executed_units|cov:' "fuzz/logs/$t.log" | tail -2 | tr '\n' ' ')"
    if [ "$status" -ne 0 ]; then
        ls "fuzz/artifacts/$t" || true
        exit "$status"
    fi
done
