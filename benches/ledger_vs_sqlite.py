#!/usr/bin/env python3
"""`bd create`, `bd close` and `bd list` side by side with the sqlite3 CLI.

Usage: [REPS=9] benches/ledger_vs_sqlite.py [BD_BINARY] [SIZES...]
  default: target/release/bd, sizes 1000 10000 100000

For each size it builds a ledger with `bd import` (a generated JSONL with
ids shaped like bd's, so writes land all over the file; no
git), and a plain SQLite table holding the same rows. Then it times, as
whole processes, bd and sqlite3 interleaved run by run, median of REPS runs
(wall clock, and bd's CPU time, user + system, which the other loads on a
shared machine disturb less):
  - `bd create T` vs `sqlite3 db "INSERT ..."` (WAL, synchronous=FULL);
  - `bd close ID` vs `sqlite3 db "UPDATE ... WHERE id = ..."`;
  - `bd list --json > /dev/null` vs `sqlite3 -json db "SELECT * ..." > /dev/null`.
Every bd write also brings .beads/issues.jsonl current (the store's write
path), so the figures include the export. Prints one line per (size, op)
with both times and the ratio, then for bd the curve from the smallest size
to each larger one (flat is 1.0x). Needs `sqlite3` on PATH.
"""
import json, os, random, shutil, statistics, subprocess, sys, tempfile, time

REPS = int(os.environ.get("REPS", "9"))
bd = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/bd")
sizes = [int(s) for s in sys.argv[2:]] or [1000, 10000, 100000]
if not shutil.which("sqlite3"):
    sys.exit("skipped: sqlite3 is not installed (apt-get install sqlite3)")


def timed(cmd, cwd, env=None):
    """Wall and CPU (user + system) seconds of one process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, shell=isinstance(cmd, str))
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: %s" % (cmd,))
    return wall, ru.ru_utime + ru.ru_stime


def side_by_side(ours, peer):
    """Medians of (ours wall, ours cpu, peer wall), the two run in turn."""
    a, c, b = [], [], []
    for i in range(REPS):
        wall, cpu = ours(i)
        a.append(wall)
        c.append(cpu)
        b.append(peer(i)[0])
    return statistics.median(a), statistics.median(c), statistics.median(b)


def ids(n):
    """n ids shaped like bd's own (base36 hashes), so that the lines a
    write touches, and the ids `bd create` makes, fall all over the file."""
    rnd = random.Random(n)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = set()
    while len(out) < n:
        out.add("bb-" + "".join(rnd.choice(digits) for _ in range(6)))
    return sorted(out)


def line(i, id):
    ts = "2026-01-01T00:00:00.%06dZ" % (i % 1000000)
    return json.dumps({"id": id, "title": "issue %d" % i, "description": "d" * 80,
                       "status": "open", "issue_type": "task", "priority": 2,
                       "created_at": ts, "created_by": "bench", "updated_at": ts}, separators=(",", ":"))


def run(n):
    root = tempfile.mkdtemp(prefix="ledgerbench")
    env = dict(os.environ, BD_ACTOR="bench")
    env.pop("BEADS_DIR", None)
    env.pop("GT_TOWN", None)
    subprocess.run([bd, "init", "--prefix", "bb"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(root, ".beads/issues.jsonl"), "w") as f:
        keys = ids(n)
        for i, id in enumerate(keys):
            f.write(line(i, id) + "\n")
    subprocess.run([bd, "import"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    peer = os.path.join(root, "peer.db")
    pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
    subprocess.run(["sqlite3", peer], input=(
        pragmas + "CREATE TABLE issues (id TEXT PRIMARY KEY, title TEXT, description TEXT, status TEXT,"
        " priority INT, created_at TEXT, updated_at TEXT);"
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < %d) "
        "INSERT INTO issues SELECT printf('bb-%%06x', i * 7919), 'issue '||i, printf('%%080d', 0), 'open', 2, "
        "'2026-01-01', '2026-01-01' FROM c;" % (n - 1)).encode(), check=True, stdout=subprocess.DEVNULL)
    out = [
        ("create",) + side_by_side(
            lambda i: timed([bd, "create", "new %d" % i], root, env),
            lambda i: timed(["sqlite3", peer, pragmas +
                "INSERT INTO issues VALUES ('nn-%d', 't', '', 'open', 2, '2026', '2026')" % i], root)),
        ("close",) + side_by_side(
            lambda i: timed([bd, "close", keys[i * 7919 % n]], root, env),
            lambda i: timed(["sqlite3", peer, pragmas +
                "UPDATE issues SET status = 'closed' WHERE id = 'bb-%06x'" % (i * 7919 % n * 7919)], root)),
        ("list",) + side_by_side(
            lambda i: timed("%s list --json > /dev/null" % bd, root, env),
            lambda i: timed("sqlite3 -json %s 'SELECT * FROM issues' > /dev/null" % peer, root)),
    ]
    jsonl_mb = os.path.getsize(os.path.join(root, ".beads/issues.jsonl")) / 1e6
    for op, a, cpu, b in out:
        print("%7d issues  %-6s  bd %7.1f ms (cpu %6.1f ms)  sqlite3 %6.1f ms  ratio %5.1fx  (issues.jsonl %.1f MB)"
              % (n, op, a * 1e3, cpu * 1e3, b * 1e3, a / b, jsonl_mb), flush=True)
    shutil.rmtree(root)
    return {op: (a, cpu, b) for op, a, cpu, b in out}


print("load average: %.2f %.2f %.2f" % os.getloadavg())
results = {n: run(n) for n in sizes}
small = sizes[0]
for n in sizes[1:]:
    for op in ("create", "close"):
        (a0, c0, b0), (a1, c1, b1) = results[small][op], results[n][op]
        print("bd %-6s %7d -> %7d issues: wall %.2fx, cpu %.2fx, ratio to sqlite3 %.1fx -> %.1fx"
              % (op, small, n, a1 / a0, c1 / c0, a0 / b0, a1 / b1))
print("load average: %.2f %.2f %.2f" % os.getloadavg())
