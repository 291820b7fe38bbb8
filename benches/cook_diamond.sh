#!/usr/bin/env bash
# Cook and lint an `extends` diamond: two formulas per level, each extending
# both of the next level (2^DEPTH paths, 2*DEPTH+1 distinct steps), the
# shape of tests/cli_formula.rs::an_extends_diamond_resolves_each_formula_once.
# Memoized resolution makes the cost linear in the depth.
#
#   cargo build --release --bin gt
#   benches/cook_diamond.sh [DEPTH ...]      # default: 18 32
#
# Prints wall time and peak RSS of `gt cook` and `gt formula lint DIR` per depth.
set -euo pipefail
GT=${GT:-$(dirname "$0")/../target/release/gt}
[ -x "$GT" ] || { echo "no $GT: run cargo build --release --bin gt" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }
depths=("$@")
[ ${#depths[@]} -gt 0 ] || depths=(18 32)
measure() { # label, command...
    local t
    t=$(mktemp)
    local rc=0
    /usr/bin/time -o "$t" -f '%e %M' "${@:2}" >/dev/null 2>&1 || rc=$?
    printf '%-24s %6ss %8s KB peak RSS, exit %s\n' "$1" $(tail -1 "$t") "$rc"
    rm -f "$t"
}
for depth in "${depths[@]}"; do
    dir=$(mktemp -d)
    for ((i = 0; i < depth; i++)); do
        for side in a b; do
            ext=""
            if ((i + 1 < depth)); then ext="extends = [\"a$((i + 1))\", \"b$((i + 1))\"]"; fi
            printf 'formula = "%s%d"\n%s\n[[steps]]\nid = "%s%d"\ntitle = "S"\n' \
                "$side" "$i" "$ext" "$side" "$i" >"$dir/$side$i.formula.toml"
        done
    done
    printf 'formula = "top"\nextends = ["a0", "b0"]\n[[steps]]\nid = "top"\ntitle = "T"\n' \
        >"$dir/top.formula.toml"
    echo "depth $depth: $((2 * depth + 1)) files, $((2 ** depth)) paths through the diamond"
    measure "gt cook (depth $depth)" "$GT" cook "$dir/top.formula.toml"
    measure "gt formula lint DIR" "$GT" formula lint "$dir"
    rm -rf "$dir"
done
