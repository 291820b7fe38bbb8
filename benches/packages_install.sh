#!/usr/bin/env bash
# Time `gt formula install` of a 50-formula package from a local git repository
# (file:// transport, a fresh cache each run), the figure issue 15 asks for.
# Usage: benches/packages_install.sh [path/to/gt]   (default: target/release/gt)
set -euo pipefail
gt=${1:-$(cd "$(dirname "$0")/.." && pwd)/target/release/gt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg="$work/fifty"
mkdir -p "$pkg"
{
  echo '[package]'
  echo 'name = "fifty"'
  echo 'version = "1.0.0"'
  echo 'description = "fifty generated workflows"'
} >"$pkg/formula-package.toml"
for i in $(seq -w 1 50); do
  {
    echo "formula = \"flow-$i\""
    echo "description = \"Generated workflow number $i for the install benchmark\""
    echo 'version = 1'
    echo
    echo '[vars.target]'
    echo 'description = "what to work on"'
    echo 'default = "x"'
    prev=""
    for s in plan build test review ship; do
      echo
      echo '[[steps]]'
      echo "id = \"$s\""
      echo "title = \"$s {{target}}\""
      [ -n "$prev" ] && echo "needs = [\"$prev\"]"
      prev=$s
    done
  } >"$pkg/flow-$i.formula.toml"
done
git -C "$pkg" init -q
git -C "$pkg" add -A
git -C "$pkg" -c user.name=b -c user.email=b@b commit -qm v1
git -C "$pkg" tag v1.0.0
runs=5
for r in $(seq 1 $runs); do
  proj="$work/proj-$r"
  mkdir -p "$proj/.beads"
  start=$(date +%s.%N)
  (cd "$proj" && GT_PACKAGE_CACHE="$work/cache-$r" "$gt" formula install "file://$pkg@v1.0.0" >"$work/out-$r.txt" 2>&1) || { cat "$work/out-$r.txt"; exit 1; }
  end=$(date +%s.%N)
  echo "run $r: $(echo "$end - $start" | bc) s"
done
echo "installed formulas in the last run: $(ls "$work/proj-$runs/.beads/formulas/packages/fifty" | grep -c formula.toml)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
