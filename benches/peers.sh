#!/usr/bin/env bash
# Side-by-side runtime comparison: the same DAG run by `gt run`, ninja and make.
#
#   cargo build --release --bins
#   apt-get install -y ninja-build make     # the peers (make is usually there)
#   benches/peers.sh                        # every case
#   benches/peers.sh fan chain              # some cases: fan chain repo store sleepers
#
# Environment: GT / BD (binaries; default target/release/{gt,bd}), JOBS (8),
# STEPS (1000), STORE_ISSUES (100000), SLEEPERS (500), REPO_FILES (375),
# REPS (3: fan, chain, repo and store run gt and its peers this many times,
# interleaved, and print the medians and the median of the per-round
# ratios), KEEP=1 keeps the scratch directory. Each line prints the load
# (uptime) at the time it was measured, because this machine is shared.
#
# Cases (issue 13):
#   fan      1,000 no-op steps: one source, 998 in parallel, one sink; --jobs 8; no repo
#   chain    1,000 no-op steps in a chain; --jobs 8; no repo
#   repo     fan and chain inside a git repository of 375 files: gt with worktrees
#            (the default in a repo) and with --isolation none
#   store    a 1,000-step chain in a store already holding 100k issues vs an empty store
#   sleepers 500 concurrent `sleep 30` steps: processes per step, supervisor RSS,
#            time until all 500 run; peer: make -j500
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
GT=${GT:-$here/target/release/gt}
BD=${BD:-$here/target/release/bd}
JOBS=${JOBS:-8}
STEPS=${STEPS:-1000}
STORE_ISSUES=${STORE_ISSUES:-100000}
SLEEPERS=${SLEEPERS:-500}
REPO_FILES=${REPO_FILES:-375}
REPS=${REPS:-3}
for b in "$GT" "$BD"; do
  [ -x "$b" ] || { echo "missing $b: run \`cargo build --release --bins\` (or set GT/BD)" >&2; exit 2; }
done
command -v ninja >/dev/null || { echo "missing ninja: apt-get install -y ninja-build" >&2; exit 2; }
command -v make >/dev/null || { echo "missing make: apt-get install -y make" >&2; exit 2; }

scratch=$(mktemp -d /tmp/gt-peers.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$scratch"' EXIT
export -n BEADS_DIR GT_TOWN 2>/dev/null || true
unset BEADS_DIR GT_TOWN

now() { date +%s.%N; }
load() { uptime | sed 's/.*load average: //'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
# The median of the arguments (numbers, or n/a; a trailing x is kept).
median() {
  local suffix=""
  case " $* " in *x\ *) suffix=x ;; esac
  printf '%s\n' "$@" | grep -v '^n/a$' | sed 's/x$//' | sort -g |
    awk -v s="$suffix" '{ v[NR] = $1 } END { if (!NR) print "n/a"; else printf "%.3f%s\n", v[int((NR + 1) / 2)], s }'
}
# The DAG as (id, needs) lines: "s0", "s1 s0", ...
dag() {
  local shape=$1 n=$2 i
  case $shape in
    chain) echo s0; for ((i = 1; i < n; i++)); do echo "s$i s$((i - 1))"; done ;;
    fan)
      echo s0
      for ((i = 1; i < n - 1; i++)); do echo "s$i s0"; done
      printf 's%d' $((n - 1)); for ((i = 1; i < n - 1; i++)); do printf ' s%d' $i; done; echo ;;
    flat) for ((i = 0; i < n; i++)); do echo "s$i"; done ;;
  esac
}

# Write the DAG for gt (formula), ninja (build.ninja) and make (Makefile).
write_dag() {
  local dir=$1 shape=$2 n=$3 cmd=$4
  mkdir -p "$dir"
  dag "$shape" "$n" | awk -v cmd="$cmd" -v f="$dir/bench.formula.toml" -v nj="$dir/build.ninja" -v mk="$dir/Makefile" '
    BEGIN {
      printf "formula = \"bench\"\ntype = \"workflow\"\nversion = 1\n" > f
      printf "rule r\n  command = %s\n", cmd > nj
      all = ""
    }
    {
      printf "\n[[steps]]\nid = \"%s\"\ntitle = \"Step %s\"\nrun = \"%s\"\n", $1, $1, cmd > f
      if (NF > 1) {
        printf "needs = [" > f
        for (i = 2; i <= NF; i++) printf "%s\"%s\"", (i > 2 ? ", " : ""), $i > f
        printf "]\n" > f
      }
      deps = ""
      for (i = 2; i <= NF; i++) deps = deps " " $i
      printf "build %s: r%s\n", $1, deps > nj
      printf "%s:%s\n\t@%s\n", $1, deps, cmd > mk
      all = all " " $1
    }
    END {
      printf "default%s\n", all > nj
      printf ".PHONY: all%s\nall:%s\n", all, all > mk
    }'
}

# Time one command in $dir; prints seconds.
timed() {
  local dir=$1; shift
  local t0 t1
  t0=$(now)
  (cd "$dir" && "$@") >/dev/null 2>"$dir/last.err" || { echo "FAILED: $* (in $dir)" >&2; cat "$dir/last.err" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1"
}

report() { # label gt ninja make [gt/ninja gt/make]
  printf '%-44s gt %7ss  ninja %7ss  make %7ss  gt/ninja %7s  gt/make %7s  load %s\n' \
    "$1" "$2" "$3" "$4" "${5:-$(ratio "$2" "$3")}" "${6:-$(ratio "$2" "$4")}" "$(load)"
}

# Rounds of one case: each round appends "gt ninja make" to $rounds.
rounds=()
report_rounds() { # label column-of-gt (1, or 2 for the second gt time)
  local label=$1 col=${2:-1} g=() n=() m=() rn=() rm=() line a
  for line in "${rounds[@]}"; do
    read -r -a a <<<"$line"
    g+=("${a[$((col - 1))]}"); n+=("${a[$((${#a[@]} - 2))]}"); m+=("${a[$((${#a[@]} - 1))]}")
    rn+=("$(ratio "${a[$((col - 1))]}" "${a[$((${#a[@]} - 2))]}")")
    rm+=("$(ratio "${a[$((col - 1))]}" "${a[$((${#a[@]} - 1))]}")")
  done
  [ "$REPS" -gt 1 ] && label="$label, median of $REPS"
  report "$label" "$(median "${g[@]}")" "$(median "${n[@]}")" "$(median "${m[@]}")" \
    "$(median "${rn[@]}")" "$(median "${rm[@]}")"
}

peer_pair() { # dir -> "ninja make"
  local dir=$1 n m
  n=$(timed "$dir" ninja -j "$JOBS" -f build.ninja)
  m=$(timed "$dir" make -j "$JOBS" -f Makefile all)
  echo "$n $m"
}

case_norepo() {
  local shape=$1 dir="$scratch/$1-norepo" r g
  write_dag "$dir" "$shape" "$STEPS" true
  rounds=()
  for ((r = 0; r < REPS; r++)); do
    rm -rf "$dir/.beads"
    g=$(timed "$dir" "$GT" run bench.formula.toml --jobs "$JOBS" --quiet)
    rounds+=("$g $(peer_pair "$dir")")
  done
  report_rounds "$shape, $STEPS steps, --jobs $JOBS, no repo"
}

make_repo() {
  local repo=$1 i
  mkdir -p "$repo/src"
  for ((i = 0; i < REPO_FILES; i++)); do
    mkdir -p "$repo/src/d$((i % 25))"
    seq 1 $((40 + i % 60)) | sed "s/^/line $i /" >"$repo/src/d$((i % 25))/f$i.txt"
  done
  git -C "$repo" init -q -b main
  git -C "$repo" add -A
  git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm "375 files"
}

case_repo() {
  local shape r
  for shape in fan chain; do
    rounds=()
    for ((r = 0; r < REPS; r++)); do
      # A fresh repository each round: a run leaves a branch per step.
      local repo="$scratch/repo-$shape-$r" dir gw gn
      make_repo "$repo"
      dir="$repo/$shape"
      write_dag "$dir" "$shape" "$STEPS" true
      printf '.beads/\n' >"$dir/.gitignore"
      gw=$(timed "$dir" "$GT" run bench.formula.toml --jobs "$JOBS" --quiet)
      rm -rf "$dir/.beads"
      gn=n/a
      if [[ $("$GT" run --help) == *--isolation* ]]; then  # not `| grep -q`: under pipefail its early exit fails gt with SIGPIPE
        gn=$(timed "$dir" "$GT" run bench.formula.toml --jobs "$JOBS" --quiet --isolation none)
      fi
      rounds+=("$gw $gn $(peer_pair "$dir")")
      rm -rf "$repo"
    done
    report_rounds "$shape, $STEPS steps, $REPO_FILES-file repo, worktrees" 1
    report_rounds "$shape, $STEPS steps, $REPO_FILES-file repo, --isolation none" 2
  done
}

# A store holding $STORE_ISSUES open issues, made with `bd init` + `bd import`.
big_store() {
  local dir=$1
  mkdir -p "$dir"
  (cd "$dir" && "$BD" init --prefix big >/dev/null)
  awk -v n="$STORE_ISSUES" 'BEGIN {
    for (i = 0; i < n; i++)
      printf "{\"id\":\"big-x%07d\",\"title\":\"Unrelated issue %d\",\"status\":\"open\",\"issue_type\":\"task\",\"priority\":%d,\"created_at\":\"2026-01-01T00:00:00Z\",\"created_by\":\"bench\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n", i, i, i % 5
  }' >"$dir/.beads/issues.jsonl"
  (cd "$dir" && "$BD" import >/dev/null)
}

case_store() {
  local empty="$scratch/store-empty" full="$scratch/store-full" t0 t1
  write_dag "$empty" chain "$STEPS" true
  (cd "$empty" && "$BD" init --prefix big >/dev/null)
  t0=$(now)
  big_store "$full"
  t1=$(now)
  echo "  (made a store of $STORE_ISSUES issues with bd import in $(secs "$t0" "$t1")s)"
  cp "$empty/bench.formula.toml" "$full/"
  local ge gf r es=() fs=() rs=()
  # Each round pours one more chain into each store (the empty one holds
  # only the earlier rounds' chains).
  for ((r = 0; r < REPS; r++)); do
    ge=$(timed "$empty" "$GT" run bench.formula.toml --jobs "$JOBS" --quiet)
    gf=$(timed "$full" "$GT" run bench.formula.toml --jobs "$JOBS" --quiet)
    es+=("$ge"); fs+=("$gf"); rs+=("$(ratio "$gf" "$ge")")
  done
  printf '%-44s %s store %7ss  empty store %7ss  ratio %7s  load %s\n' \
    "chain, $STEPS steps, store of $STORE_ISSUES issues$([ "$REPS" -gt 1 ] && echo ", median of $REPS")" \
    "$STORE_ISSUES-issue" "$(median "${fs[@]}")" "$(median "${es[@]}")" "$(median "${rs[@]}")" "$(load)"
}

# Processes in the tree under $1 (itself excluded), and their total
# proportional set size (PSS: shared pages split between sharers) in kB.
tree_stats() {
  local pids p kb=0 n=0 v
  pids=$(ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        q = p
        while (q in parent && q != root && q > 1) q = parent[q]
        if (q == root && p != root) print p
      }
    }')
  for p in $pids; do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    n=$((n + 1)); kb=$((kb + ${v:-0}))
  done
  echo "$n $kb"
}
pss_of() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
count_sleeps() { pgrep -c -f "^sleep 30$" || true; }

# Start "$@" in its own process group, wait until $SLEEPERS `sleep 30` run,
# print "seconds processes tree_kB leader_kB", then kill the group.
sleepers_under() {
  local dir=$1; shift
  local t0 t1 pid n=0 procs kb lead
  t0=$(now)
  (cd "$dir" && exec setsid "$@" >/dev/null 2>"$dir/last.err") &
  pid=$!
  while [ "$(count_sleeps)" -lt "$SLEEPERS" ]; do
    sleep 0.05
    kill -0 "$pid" 2>/dev/null || { echo "FAILED: $*" >&2; cat "$dir/last.err" >&2; exit 1; }
  done
  t1=$(now)
  sleep 1
  read -r procs kb <<<"$(tree_stats "$pid")"
  lead=$(rss_of "$pid")
  kb=$((kb + $(pss_of "$pid")))
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 100); do [ "$(count_sleeps)" = 0 ] && break; sleep 0.1; done
  echo "$(secs "$t0" "$t1") $procs $kb $lead"
}

case_sleepers() {
  local dir="$scratch/sleepers"
  [ "$(count_sleeps)" = 0 ] || { echo "other \`sleep 30\` processes are running; the count would be wrong" >&2; exit 1; }
  write_dag "$dir" flat "$SLEEPERS" "sleep 30"
  read -r gs gp gk gl <<<"$(sleepers_under "$dir" "$GT" run bench.formula.toml --jobs "$SLEEPERS" --quiet)"
  read -r ms mp mk ml <<<"$(sleepers_under "$dir" make -j "$SLEEPERS" -f Makefile all)"
  printf '%-44s gt: %ss to start, %s processes (%s per step), %s MB PSS in all, supervisor RSS %s MB | make: %ss, %s processes, %s MB PSS  load %s\n' \
    "$SLEEPERS concurrent \`sleep 30\` steps" "$gs" "$gp" \
    "$(awk -v p="$gp" -v n="$SLEEPERS" 'BEGIN { printf "%.2f", p / n }')" \
    "$((gk / 1024))" "$((gl / 1024))" "$ms" "$mp" "$((mk / 1024))" "$(load)"
}

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(fan chain repo store sleepers)
echo "gt: $GT ($("$GT" --version 2>/dev/null || echo '?')); ninja $(ninja --version); $(make --version | head -1); $(nproc) cores"
for c in "${cases[@]}"; do
  case $c in
    fan | chain) case_norepo "$c" ;;
    repo) case_repo ;;
    store) case_store ;;
    sleepers) case_sleepers ;;
    *) echo "unknown case $c (fan chain repo store sleepers)" >&2; exit 2 ;;
  esac
done
