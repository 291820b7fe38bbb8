#!/usr/bin/env bash
# Crash-resume drill (not a speed bench): SIGKILL `gt run` at random moments
# over 300-step DAGs whose steps append their id to a log, resume until the
# molecule closes, and count executions. Every step must run exactly once.
#
#   cargo build --release --bins
#   benches/crash_resume.sh [ROUNDS]        # default 10
#
# Environment: GT / BD (default target/release/{gt,bd}). Prints one line per
# round and exits 1 if any step ran twice or a molecule did not close.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GT=${GT:-$here/target/release/gt}
BD=${BD:-$here/target/release/bd}
ROUNDS=${1:-10}
for b in "$GT" "$BD"; do
  [ -x "$b" ] || { echo "missing $b: run \`cargo build --release --bins\` (or set GT/BD)" >&2; exit 2; }
done
unset BEADS_DIR GT_TOWN
scratch=$(mktemp -d /tmp/gt-crash.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
kills_total=0 bad=0
for r in $(seq "$ROUNDS"); do
  d="$scratch/r$r"; mkdir -p "$d/w"; cd "$d/w"
  python3 - "$d/ran.log" <<'PY'
import sys
log = sys.argv[1]
parts = ['formula = "drill"\ntype = "workflow"\nversion = 1\n']
for i in range(300):
    parts.append(f'\n[[steps]]\nid = "s{i}"\ntitle = "s{i}"\nrun = "sleep 0.0{i % 5}; echo s{i} >> {log}"\n')
    needs = ([f"s{i-4}"] if i >= 4 else []) + ([f"s{i-9}"] if i >= 9 and i % 7 == 0 else [])
    if needs:
        parts.append("needs = [" + ", ".join(f'"{n}"' for n in needs) + "]\n")
open("drill.formula.toml", "w").write("".join(parts))
PY
  "$BD" init --prefix dr >/dev/null 2>&1
  root=$("$GT" --json pour drill.formula.toml | python3 -c 'import sys, json; print(json.load(sys.stdin)["new_epic_id"])')
  kills=0
  while [ $kills -lt 40 ]; do
    "$GT" run "$root" --jobs 8 --quiet >/dev/null 2>&1 & pid=$!
    sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
    kill -0 $pid 2>/dev/null || { wait $pid || true; break; }
    kill -9 $pid; wait $pid 2>/dev/null || true; kills=$((kills + 1))
  done
  sleep 0.3  # sessions outlive their supervisor; let the last ones end
  "$GT" run "$root" --jobs 8 --quiet >/dev/null 2>&1 || true
  runs=$(wc -l < "$d/ran.log"); distinct=$(sort -u "$d/ran.log" | wc -l)
  status=$("$BD" show "$root" --json | python3 -c 'import sys, json; print(json.load(sys.stdin)[0]["status"])')
  echo "round $r: $kills SIGKILLs, $runs executions of $distinct distinct steps (of 300), molecule $status"
  [ "$runs" = 300 ] && [ "$distinct" = 300 ] && [ "$status" = closed ] || bad=$((bad + 1))
  kills_total=$((kills_total + kills))
done
echo "$ROUNDS rounds, $kills_total SIGKILLs, $bad bad rounds"
[ $bad = 0 ]
