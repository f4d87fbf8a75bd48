#!/usr/bin/python3
"""check_chrome.py DB TRACE - checks a Chrome trace event export against the
merged database: it must parse as JSON; every span is one "X" event with the
same id, parent, name, pid, tid, start and duration (to the nanosecond) and
its attributes in args; every thread has a thread_name; every sample is in
a ProfileChunk of its thread, at its time (to the microsecond), on a node
whose function is the sample's leaf frame. Prints "ok ..." and exits 0, or
prints the first mismatch and exits 1."""
import json
import sqlite3
import sys


def fail(msg):
    print("check_chrome: " + msg)
    sys.exit(1)


def main(db_path, trace_path):
    with open(trace_path, encoding="utf-8") as f:
        trace = json.load(f)
    db = sqlite3.connect(db_path)
    # invalid UTF-8 in the database is exported as U+FFFD per bad byte
    db.text_factory = lambda b: b.decode("utf-8", "replace")
    base = trace["otherData"]["spanprof_base_ns"]
    events = trace["traceEvents"]
    spans = {int(e["args"]["span_id"]): e for e in events if e["ph"] == "X"}
    end = db.execute("SELECT max(COALESCE((SELECT max(ts_ns) FROM samples), 0), "
                     "COALESCE((SELECT max(COALESCE(end_ns, start_ns)) FROM spans), 0))"
                     ).fetchone()[0]
    # the export carries the recorded ids (span_id is merge's key; the
    # fixture and older databases have no recorded_id: span_id is it)
    cols = [r[1] for r in db.execute("PRAGMA table_info(spans)")]
    rec = ("recorded_id, recorded_parent_id" if "recorded_id" in cols
           else "span_id, parent_id")
    rows = db.execute(f"SELECT {rec}, name, pid, tid, start_ns, "
                      "COALESCE(end_ns, max(start_ns, ?)) FROM spans", (end,)).fetchall()
    if len(spans) != len(rows):
        fail(f"{len(spans)} X events for {len(rows)} spans")
    for sid, parent, name, pid, tid, start, end in rows:
        e = spans.get(sid) or fail(f"span {sid} missing")
        got_parent = e["args"]["parent_id"]
        got_parent = None if got_parent is None else int(got_parent)
        if (e["name"], e["pid"], e["tid"], got_parent) != (name, pid, tid, parent):
            fail(f"span {sid}: {e} does not match the database")
        if round(e["ts"] * 1000) != start - base or round(e["dur"] * 1000) != end - start:
            fail(f"span {sid}: ts/dur {e['ts']}/{e['dur']} vs {start - base}/{end - start}")
    # a key set twice: the last value wins (docs/schema.md)
    rec_of = {r[0]: r[1] for r in db.execute(f"SELECT span_id, {rec.split(',')[0]} "
                                              "FROM spans")}
    for dense, key, value in db.execute("SELECT span_id, key, value FROM span_attrs a WHERE "
                                        "rowid = (SELECT max(rowid) FROM span_attrs b WHERE "
                                        "b.span_id = a.span_id AND b.key = a.key)"):
        sid = rec_of.get(dense)
        if spans[sid]["args"].get(key) != value:
            fail(f"span {sid}: attribute {key}={value!r} missing")
    names = {(e["pid"], e["tid"]) for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    for pid, tid in db.execute("SELECT pid, tid FROM threads"):
        if (pid, tid) not in names:
            fail(f"no thread_name for {pid}/{tid}")
    check_samples(db, events, base)
    print(f"ok: {len(spans)} spans, {len(names)} threads")


def check_samples(db, events, base):
    leaf = dict(db.execute("SELECT s.stack_id, f.func FROM stacks s "
                           "JOIN frames f ON f.frame_id = s.frame_id"))
    profiles = {e["id"]: e for e in events if e["ph"] == "P" and e["name"] == "Profile"}
    got = {}
    nodes = {}
    for e in events:
        if e["ph"] != "P" or e["name"] != "ProfileChunk":
            continue
        prof = profiles.get(e["id"]) or fail("ProfileChunk before its Profile")
        key = (e["pid"], e["tid"])
        cpu = e["args"]["data"]["cpuProfile"]
        for n in cpu.get("nodes", []):
            if n.get("parent") is not None and (key, n["parent"]) not in nodes:
                fail(f"node {n['id']} sent before its parent")
            nodes[(key, n["id"])] = n["callFrame"]["functionName"]
        t = got.get(key, [prof["args"]["data"]["startTime"], []])
        for node, delta in zip(cpu["samples"], e["args"]["data"]["timeDeltas"]):
            t[0] += delta
            t[1].append((t[0], nodes.get((key, node)) or fail(f"unknown node {node}")))
        got[key] = t
    for (pid, tid), (_, samples) in got.items():
        rows = db.execute("SELECT ts_ns, stack_id FROM samples WHERE pid = ? AND tid = ? "
                          "ORDER BY ts_ns", (pid, tid)).fetchall()
        if len(rows) != len(samples):
            fail(f"thread {tid}: {len(samples)} samples, database has {len(rows)}")
        for (ts, stack), (us, func) in zip(rows, samples):
            if (ts - base) // 1000 != us:
                fail(f"thread {tid}: sample at {us} us, database {ts - base} ns")
            if leaf.get(stack) and leaf[stack] != func:
                fail(f"thread {tid}: sample leaf {func}, database {leaf[stack]}")
    total = db.execute("SELECT count(*) FROM samples").fetchone()[0]
    if sum(len(s) for _, s in got.values()) != total:
        fail("sample count differs")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
