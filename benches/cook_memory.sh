#!/usr/bin/env bash
# Peak memory and time of `gt cook`, side by side with Python's tomllib
# parsing the same file (parse only): the 100,000-step formula of
# benches/compiler.rs (a spine of steps, a fan-in every tenth), and the
# 20-disk Towers of Hanoi (1,048,575 steps).
#
#   cargo build --release --bin gt
#   REPS=3 benches/cook_memory.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GT=${GT:-$here/target/release/gt}
[ -x "$GT" ] || { echo "no $GT: run cargo build --release --bin gt" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/big.formula.toml" <<'EOF'
import sys
parts = ['formula = "big"\nversion = 1\n[vars.who]\ndescription = "who"\ndefault = "me"\n']
for i in range(100_000):
    parts.append(f'\n[[steps]]\nid = "s{i}"\ntitle = "Step {i} for {{{{who}}}}"\n')
    if i >= 10 and i % 10 == 0:
        parts.append(f'needs = ["s{i-1}", "s{i-10}"]\n')
    elif i > 0:
        parts.append(f'needs = ["s{i-1}"]\n')
open(sys.argv[1], "w").write("".join(parts))
EOF
measure() { # label, command...
    local t rc=0
    t=$(mktemp)
    /usr/bin/time -o "$t" -f '%e %M' "${@:2}" >/dev/null 2>&1 || rc=$?
    read -r last_s last_kb < <(tail -1 "$t")
    printf '%-34s %6ss %9s KB peak RSS, exit %s\n' "$1" "$last_s" "$last_kb" "$rc"
    rm -f "$t"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
# Side by side, REPS times (default 1): the ratio is what counts on a busy machine.
for _ in $(seq "${REPS:-1}"); do
    measure "tomllib parse, 100k steps" python3 -c "import sys, tomllib; tomllib.load(open(sys.argv[1], 'rb'))" "$dir/big.formula.toml"
    py_s=$last_s py_kb=$last_kb
    measure "gt cook, 100k steps" "$GT" cook "$dir/big.formula.toml" --out /dev/null
    awk -v gs="$last_s" -v gk="$last_kb" -v ps="$py_s" -v pk="$py_kb" 'BEGIN {
        printf "%-34s %.2fx time, %.2fx peak memory (target: memory <= 2x)\n", "gt cook / tomllib", gs / ps, gk / pk }'
done
measure "gt cook, hanoi 20 disks" "$GT" cook "$here/examples/towers-of-hanoi-20.formula.toml" --max-steps 2000000 --out /dev/null
measure "gt cook, hanoi, --expand"   "$GT" cook "$here/examples/towers-of-hanoi-20.formula.toml" --max-steps 2000000 --expand --out /dev/null
