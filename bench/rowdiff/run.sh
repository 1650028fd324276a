#!/usr/bin/env bash
# rowdiff against reladiff 0.6.0 on the issue's orders table, in the same run.
#
#   bench/rowdiff/run.sh [ROWS] [ENGINES]      ROWS default 1000000 (also $ROWS), e.g. 10000000
#                                             ENGINES default "postgres mariadb" (also $ENGINES)
#   REPS=3 (timed runs per tool; medians are reported), RELADIFF_THREADS=4
#
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), MariaDB on 127.0.0.1:3306
# (root, no password), psql and mysql clients, python3, /usr/bin/time (Debian package
# `time`), and `pip install reladiff==0.6.0 psycopg2-binary mysql-connector-python`.
# Creates and drops the databases rdbench_old and rdbench_new on both servers.
set -euo pipefail

ROWS="${1:-${ROWS:-1000000}}"
ENGINES="${2:-${ENGINES:-postgres mariadb}}"
REPS="${REPS:-3}"
THREADS="${RELADIFF_THREADS:-4}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${OUT:-$ROOT/bench/out/rowdiff}"
mkdir -p "$OUT"

[ -x /usr/bin/time ] || { echo "install GNU time: apt-get install -y time" >&2; exit 2; }
command -v reladiff >/dev/null || { echo "install reladiff: pip install reladiff==0.6.0 psycopg2-binary mysql-connector-python" >&2; exit 2; }

echo "building the rowdiff bench binary (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p rowdiff --example rowdiff-bench)
BIN="$ROOT/target/release/examples/rowdiff-bench"

# The edits: 50 deleted, 50 updated (status and amount), 10 inserted, spread over the keys.
STEP=$((ROWS / 50))
DELETES=$(python3 -c "print(','.join(str(1 + k*$STEP) for k in range(50)))")
UPDATES=$(python3 -c "print(','.join(str(5 + k*$STEP) for k in range(50)))")
EXPECT="50 10 50"

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
MYSQL=(mysql -h 127.0.0.1 -P 3306 -uroot)

setup_postgres() {
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS rdbench_new WITH (FORCE)" -c "DROP DATABASE IF EXISTS rdbench_old WITH (FORCE)" -c "CREATE DATABASE rdbench_old"
  "${PSQL[@]}" -d rdbench_old <<SQL
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(12,2), status text, created_at timestamptz);
INSERT INTO orders
SELECT g, (g * 7919) % 100003,
       CASE WHEN g % 97 = 0 THEN NULL ELSE ((g * 7907) % 1000000) / 100.0 END,
       (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + g % 5],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1::bigint, $ROWS) g;
VACUUM ANALYZE orders;
SQL
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE rdbench_new TEMPLATE rdbench_old"
  "${PSQL[@]}" -d rdbench_new <<SQL
DELETE FROM orders WHERE id IN ($DELETES);
UPDATE orders SET status = 'refunded', amount = amount + 1 WHERE id IN ($UPDATES);
INSERT INTO orders SELECT $ROWS + g, 42, 9.99, 'new', now() FROM generate_series(1, 10) g;
VACUUM ANALYZE orders;
SQL
}

setup_mariadb() {
  "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS rdbench_old; DROP DATABASE IF EXISTS rdbench_new; CREATE DATABASE rdbench_old; CREATE DATABASE rdbench_new"
  "${MYSQL[@]}" rdbench_old <<SQL
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount decimal(12,2), status varchar(16),
                     created_at timestamp(6) NULL) ENGINE=InnoDB;
SET time_zone = '+00:00';
INSERT INTO orders
SELECT seq, (seq * 7919) % 100003, IF(seq % 97 = 0, NULL, ((seq * 7907) % 1000000) / 100),
       ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'),
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
FROM seq_1_to_$ROWS;
ANALYZE TABLE orders;
SQL
  "${MYSQL[@]}" rdbench_new <<SQL
CREATE TABLE orders LIKE rdbench_old.orders;
INSERT INTO orders SELECT * FROM rdbench_old.orders;
DELETE FROM orders WHERE id IN ($DELETES);
UPDATE orders SET status = 'refunded', amount = amount + 1 WHERE id IN ($UPDATES);
INSERT INTO orders SELECT $ROWS + seq, 42, 9.99, 'new', NOW() FROM seq_1_to_10;
ANALYZE TABLE orders;
SQL
}

# timed NAME CMD...: runs CMD under /usr/bin/time -v; appends "seconds rss_kb" to $OUT/NAME.times.
timed() {
  local name="$1"; shift
  local t="$OUT/$name.time"
  /usr/bin/time -v -o "$t" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || {
    echo "$name failed (exit $?); see $OUT/$name.stderr" >&2; tail -5 "$OUT/$name.stderr" >&2; return 1; }
  python3 - "$t" >>"$OUT/$name.times" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
w = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", s)
secs = int(w.group(1) or 0) * 3600 + int(w.group(2)) * 60 + float(w.group(3))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", s).group(1))
print(secs, rss)
PY
}

# wire NAME PORT TARGET CMD... (CMD may use {PORT}): bytes through a counting relay.
wire() {
  local name="$1" port="$2" target="$3"; shift 3
  local f="$OUT/$name.wire"; rm -f "$f"
  "$BIN" proxy "127.0.0.1:$port" "$target" "$f" & local pid=$!
  sleep 0.3
  "${@//\{PORT\}/$port}" >/dev/null 2>"$OUT/$name.wire.stderr" || echo "$name through the relay failed" >&2
  sleep 0.3
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  python3 -c "import json,sys; print(json.load(open('$f'))['total'])" 2>/dev/null || echo 0
}

median() { python3 -c "import statistics,sys; v=[float(l.split()[$2]) for l in open('$1')]; print(statistics.median(v))"; }
maxcol() { python3 -c "import sys; print(max(float(l.split()[$2]) for l in open('$1')))"; }

bench_engine() {
  local eng="$1" url_old url_new rel_old rel_new port target extra=()
  case "$eng" in
    postgres)
      url_old="postgres://postgres@127.0.0.1:{PORT}/rdbench_old"; url_new="postgres://postgres@127.0.0.1:{PORT}/rdbench_new"
      rel_old="postgresql://postgres@127.0.0.1:{PORT}/rdbench_old"; rel_new="postgresql://postgres@127.0.0.1:{PORT}/rdbench_new"
      port=5432; target=127.0.0.1:5432 ;;
    mariadb)
      url_old="mysql://root@127.0.0.1:{PORT}/rdbench_old"; url_new="mysql://root@127.0.0.1:{PORT}/rdbench_new"
      rel_old="mysql://root@127.0.0.1:{PORT}/rdbench_old"; rel_new="mysql://root@127.0.0.1:{PORT}/rdbench_new"
      port=3306; target=127.0.0.1:3306; extra=(--skip-sort-results) ;;
  esac
  echo "setting up $eng with $ROWS rows..." >&2
  "setup_$eng"
  local rd=(env "$BIN" diff "$url_old" "$url_new" orders $EXPECT)
  local rl=(reladiff "$rel_old" orders "$rel_new" orders -k id -c customer_id -c amount -c status -c created_at -j "$THREADS" -s "${extra[@]}")
  local p="${eng}_$ROWS"
  rm -f "$OUT/${p}_rowdiff.times" "$OUT/${p}_reladiff.times" "$OUT/${p}_scan.times"
  # Warm the caches once for both tools.
  "${rd[@]//\{PORT\}/$port}" >/dev/null
  for i in $(seq "$REPS"); do
    timed "${p}_rowdiff" "${rd[@]//\{PORT\}/$port}"
    timed "${p}_reladiff" "${rl[@]//\{PORT\}/$port}"
  done
  if [ "$eng" = postgres ]; then
    local q="SELECT bit_xor(hash_record_extended(row(id, customer_id, amount, status, created_at), 0)) FROM orders"
    for i in $(seq "$REPS"); do
      timed "${p}_scan" bash -c "${PSQL[*]} -d rdbench_old -Atc '$q' & ${PSQL[*]} -d rdbench_new -Atc '$q' & wait"
    done
  fi
  local w_rd w_rl
  w_rd=$(wire "${p}_rowdiff" 15999 "$target" "${rd[@]}")
  w_rl=$(wire "${p}_reladiff" 15998 "$target" "${rl[@]}")
  local t_rd t_rl m_rd m_rl
  t_rd=$(median "$OUT/${p}_rowdiff.times" 0); t_rl=$(median "$OUT/${p}_reladiff.times" 0)
  m_rd=$(maxcol "$OUT/${p}_rowdiff.times" 1); m_rl=$(maxcol "$OUT/${p}_reladiff.times" 1)
  local result; result=$(tail -1 "$OUT/${p}_rowdiff.stdout")
  python3 - "$eng" "$ROWS" "$REPS" "$t_rd" "$t_rl" "$m_rd" "$m_rl" "$w_rd" "$w_rl" "$result" \
      "$( [ "$eng" = postgres ] && median "$OUT/${p}_scan.times" 0 || echo nan)" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
eng, rows, reps, t_rd, t_rl, m_rd, m_rl, w_rd, w_rl, result, scan = sys.argv[1:]
t_rd, t_rl, scan = float(t_rd), float(t_rl), float(scan)
r = json.loads(result)
print(f"== {eng}, {int(rows):,} rows, medians of {reps} runs ==")
print(f"rowdiff   {t_rd:8.2f} s   peak RSS {float(m_rd)/1024:7.1f} MB   wire {int(w_rd)/1e6:8.2f} MB   "
      f"lost {r['lost']} new {r['new']} changed {r['changed']} (expected 50 10 50)   levels {r['levels']}, rows fetched {r['rows_fetched']}")
print(f"reladiff  {t_rl:8.2f} s   peak RSS {float(m_rl)/1024:7.1f} MB   wire {int(w_rl)/1e6:8.2f} MB   (baseline: reladiff 0.6.0)")
print(f"ratio     reladiff / rowdiff = {t_rl / t_rd:.1f}x")
if scan == scan:
    print(f"hash scan {scan:8.2f} s   (one bit_xor(hash_record_extended) scan of each side, both at once); rowdiff / scan = {t_rd / scan:.2f}x")
PY
}

: >"$OUT/results.txt"
for e in $ENGINES; do bench_engine "$e"; done
echo "results in $OUT/results.txt" >&2
