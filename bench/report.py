#!/usr/bin/env python3
"""report.py - the tables of `make bench` from its raw measurements.

Reads raw.tsv (one line a run: row, tool, round, wall, user, sys seconds,
peak RSS in KB, exit status, messages delivered, messages wanted) and
rows.tsv (row, title, group, tools) as bench/run.sh writes them; writes
results.json and results.md into --out and prints the Markdown.  A row's
number for a tool is the median over its rounds (peak RSS: the largest);
"x yubin" is the tool's median divided by yubin's in the same row.

With --check (make bench-check) it judges the bench, never its timings:
every row ran, with every tool it lists, every round; every run exited
well and delivered exactly what it should; the JSON written reads back
with every row; both --watch latency modes ran and delivered every
message they appended.  Exit 1 and a list of what is wrong otherwise.

--latency: latency.jsonl, one JSON object a line as bench/latency.py
prints it (a --watch mode, its appends, medians in ms).
"""

import argparse
import json
import os
import statistics
import sys

ROWS = ["imap-full", "imap-none", "pop3-full", "pop3-none",
        "pop3-big-full", "imap-big-full", "pop3-big-none", "imap-big-none",
        "pop3-big-new10", "imap-big-new10", "huge-pop3", "huge-imap",
        "folders-full", "folders-none",
        "accounts-j1", "accounts-j2", "accounts-j4", "accounts-j8"]
ONE_ROUND = {"pop3-big-full", "imap-big-full"}
LATENCY_MODES = ["idle", "notify"]
YARDSTICKS = {"stream", "floor"}


def run_ok(run):
    """fetchmail's exit 1 means "no mail": its answer when nothing is new."""
    exited = run["exit"] == 0 or (run["tool"] == "fetchmail" and run["exit"] == 1)
    return exited and run["delivered"] == run["wanted"]


def read_runs(path):
    runs = []
    with open(path) as raw:
        for line in raw:
            f = line.rstrip("\n").split("\t")
            runs.append({"row": f[0], "tool": f[1], "round": int(f[2]),
                         "wall": float(f[3]), "user": float(f[4]),
                         "sys": float(f[5]), "rss_kb": int(f[6]),
                         "exit": int(f[7]), "delivered": int(f[8]),
                         "wanted": int(f[9])})
    return runs


def read_rows(path):
    rows = {}
    with open(path) as listing:
        for line in listing:
            ident, title, group, tools = line.rstrip("\n").split("\t")
            rows.setdefault(ident, {"id": ident, "title": title, "group": group,
                                    "tools": tools.split()})
    return list(rows.values())


def summary(runs):
    return {"rounds": len(runs),
            "median_wall_s": round(statistics.median(r["wall"] for r in runs), 3),
            "median_cpu_s": round(statistics.median(r["user"] + r["sys"] for r in runs), 3),
            "peak_rss_mb": round(max(r["rss_kb"] for r in runs) / 1024, 1),
            "ok": all(run_ok(r) for r in runs),
            "runs": [{k: v for k, v in r.items() if k not in ("row", "tool")}
                     for r in runs]}


def ratio(value, base):
    return round(value / base, 2) if base else None


def build(args):
    runs = read_runs(args.raw)
    rows = read_rows(args.rows)
    for row in rows:
        row["tools"] = {tool: summary([r for r in runs if r["row"] == row["id"]
                                       and r["tool"] == tool])
                        for tool in row["tools"]
                        if any(r["row"] == row["id"] and r["tool"] == tool for r in runs)}
        base = row["tools"].get("yubin")
        for result in row["tools"].values():
            if base:
                result["x_yubin_wall"] = ratio(result["median_wall_s"], base["median_wall_s"])
                result["x_yubin_cpu"] = ratio(result["median_cpu_s"], base["median_cpu_s"])
    machine = dict(line.split("=", 1) for line in args.machine.splitlines() if "=" in line)
    sizes = {k: int(v) for k, v in (p.split("=") for p in args.sizes.split())}
    with open(args.latency) as lines:
        latency = [json.loads(line) for line in lines if line.strip()]
    return {"machine": machine, "dovecot": args.dovecot, "sizes": sizes,
            "rounds": args.rounds, "peers": args.peers.split(), "rows": rows,
            "latency": latency}


def fmt(value, digits=2):
    return "" if value is None else "%.*f" % (digits, value)


def markdown(report):
    m = report["machine"]
    out = ["Machine: %s, %s cores, %s, %s. Dovecot %s on 127.0.0.1, TLS; "
           "median of %d rounds (A B A B ...). Peers: %s." % (
               m.get("cpu"), m.get("cores"), m.get("kernel"), m.get("disk"),
               report["dovecot"], report["rounds"],
               ", ".join(report["peers"]) or "none installed"),
           "",
           "| row | tool | wall s | CPU s | peak RSS MB | wall x yubin | CPU x yubin |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for row in report["rows"]:
        for tool, r in row["tools"].items():
            name = tool if r["ok"] else "%s (FAILED)" % tool
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                row["title"], name, fmt(r["median_wall_s"]),
                fmt(r["median_cpu_s"]), fmt(r["peak_rss_mb"], 1),
                fmt(r.get("x_yubin_wall")), fmt(r.get("x_yubin_cpu"))))
    out += ["", "yubin --watch: a message appended by another client, until its "
            "file is in new/ (renamed) and until its fetch is recorded "
            "(synced, state committed); median ms.", "",
            "| watch with | appended | delivered | to new/ ms | recorded ms |",
            "|---|---:|---:|---:|---:|"]
    for mode in report["latency"]:
        out.append("| %s | %d | %d | %s | %s |" % (
            "NOTIFY, one connection" if mode["mode"] == "notify" else "IDLE, one per folder",
            mode["appended"], mode["delivered"], fmt(mode["median_renamed_ms"], 0),
            fmt(mode["median_recorded_ms"], 0)))
    return "\n".join(out) + "\n"


def problems_of(report, path):
    problems = []
    with open(path) as written:
        rows = {row["id"]: row for row in json.load(written)["rows"]}
    for ident in ROWS:
        row = rows.get(ident)
        if not row:
            problems.append("row %s is missing" % ident)
            continue
        if "yubin" not in row["tools"]:
            problems.append("row %s has no yubin run" % ident)
        for tool, r in row["tools"].items():
            want = 1 if ident in ONE_ROUND else report["rounds"]
            if r["rounds"] != want:
                problems.append("%s/%s: %d runs, not %d" % (ident, tool, r["rounds"], want))
            for run in r["runs"]:
                run["tool"] = tool
                if not run_ok(run):
                    problems.append("%s/%s round %d: exit %d, %d of %d messages" % (
                        ident, tool, run["round"], run["exit"],
                        run["delivered"], run["wanted"]))
    for peer in report["peers"]:
        if not any(peer in row["tools"] for row in rows.values()):
            problems.append("peer %s ran in no row" % peer)
    modes = {m["mode"]: m for m in report["latency"]}
    for name in LATENCY_MODES:
        mode = modes.get(name)
        if not mode:
            problems.append("latency %s did not run" % name)
        elif mode["delivered"] != mode["appended"] or mode["appended"] == 0:
            problems.append("latency %s: %d of %d messages delivered" % (
                name, mode["delivered"], mode["appended"]))
    return problems


def main():
    parser = argparse.ArgumentParser()
    for name in ("raw", "rows", "out", "peers", "dovecot", "sizes", "machine",
                 "latency"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    report = build(args)
    path = os.path.join(args.out, "results.json")
    with open(path, "w") as out:
        json.dump(report, out, indent=1)
        out.write("\n")
    table = markdown(report)
    with open(os.path.join(args.out, "results.md"), "w") as out:
        out.write(table)
    print(table)
    if not args.check:
        return 0
    problems = problems_of(report, path)
    for problem in problems:
        print("bench-check: %s" % problem)
    if problems:
        print("bench-check: FAILED (%d problems)" % len(problems))
        return 1
    print("bench-check: ok: %d rows, every tool delivered what it should; "
          "--watch delivered every message appended" % len(ROWS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
