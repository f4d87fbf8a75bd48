#!/usr/bin/env python3
"""cookbook_bench.py - times every ```sql block of docs/cookbook.md on merged
databases and compares their answers.

Usage: bench/merge_throughput/cookbook_bench.py [--cookbook FILE] DB [DB...]

For each recipe, prints the time on each DB (one run each, in turn) and a
checksum of its answer: the rows, sorted, as text. Span ids differ between
databases merged by different versions (spans.span_id became a key merge
assigns: docs/schema.md, "Ids"), so a column named span_id is replaced by
the span's recorded id (spans.recorded_id, or span_id itself in a database
without that column). "same" in the last column means every DB gave the
same answer. A second --cookbook FILE (e.g. an older docs/cookbook.md from
`git show REV:docs/cookbook.md`) runs that file's recipes on the LAST DB
instead: the documented questions, asked the old way on the old database.

Reads the databases only (python3's sqlite3 module).
"""
import hashlib
import re
import sqlite3
import sys
import time


def recipes(path):
    text = open(path, encoding="utf-8").read()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def rec_map(db):
    cols = [r[1] for r in db.execute("PRAGMA table_info(spans)")]
    if "recorded_id" not in cols:
        return None
    return dict(db.execute("SELECT span_id, recorded_id FROM spans"))


def answer(db, sql, ids):
    cur = db.execute(sql)
    names = [d[0] for d in cur.description]
    rows = []
    for row in cur:
        row = list(row)
        for i, n in enumerate(names):
            if n == "span_id" and ids is not None and row[i] is not None:
                row[i] = ids.get(row[i], row[i])
        rows.append(repr(row))
    rows.sort()
    return len(rows), hashlib.sha1("\n".join(rows).encode()).hexdigest()[:10]


def main(argv):
    cookbooks = []
    while argv and argv[0] == "--cookbook":
        cookbooks.append(argv[1])
        argv = argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if not cookbooks:
        cookbooks = ["docs/cookbook.md"]
    dbs = [sqlite3.connect("file:%s?mode=ro" % p, uri=True) for p in argv]
    ids = [rec_map(db) for db in dbs]
    books = [recipes(cookbooks[0])] * len(dbs)
    if len(cookbooks) > 1:
        books[-1] = recipes(cookbooks[1])
    n = min(len(b) for b in books)
    print("recipe  " + "  ".join("%-24s" % p[-24:] for p in argv) + "  answers")
    for k in range(n):
        cells, sums = [], set()
        for db, m, book in zip(dbs, ids, books):
            t0 = time.monotonic()
            rows, digest = answer(db, book[k], m)
            cells.append("%7.2f s %4d rows %s" % (time.monotonic() - t0, rows, digest[:6]))
            sums.add(digest)
        print("%6d  %s  %s" % (k + 1, "  ".join(cells),
                               "same" if len(sums) == 1 else "DIFFER"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
