// check_otlp.js - checks spanprof's OpenTelemetry output with a real
// decoder: the protobuf code OpenTelemetry JS generated from the upstream
// .proto files (@opentelemetry/otlp-transformer@0.52.1, installed by
// scripts/install-readers.sh), against the database read with node:sqlite.
//
//   node check_otlp.js file OTLP_FILE DB
//       decodes one ExportTraceServiceRequest and compares it with DB
//   node check_otlp.js push DB SPANPROF FAILS [ARGS...]
//       runs an OTLP/HTTP receiver on 127.0.0.1 (port chosen by the OS),
//       answers 503 to the first FAILS requests, runs `SPANPROF push DB
//       --endpoint http://127.0.0.1:PORT ARGS...` (the server listens before
//       push starts: no race), and compares what arrived with DB
//   node check_otlp.js trace OTLP_FILE
//       prints "traces N" and, per span, "name trace_id span_id parent_id"
//
// Prints "ok ..." and exits 0, or prints what differs and exits 1.
// Environment: SPANPROF_READERS (default /opt/spanprof-readers).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { DatabaseSync } = require('node:sqlite');

const readers = process.env.SPANPROF_READERS || '/opt/spanprof-readers';
const root = require(path.join(readers,
  'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js'));
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const problems = [];
function fail(msg) {
  if (problems.length < 20) problems.push(msg);
}
const hex = (b) => Buffer.from(b || []).toString('hex');
const big = (v) => BigInt(v && v.toString ? v.toString() : v);

// The set member of the AnyValue oneof ("value" names it in protobufjs).
function anyValue(v) {
  const kind = v.value;
  if (kind === 'intValue') return big(v.intValue);
  return v[kind];
}

function attrMap(list) {
  const m = new Map();
  for (const kv of list || []) {
    if (m.has(kv.key)) fail(`attribute ${kv.key} twice`);
    m.set(kv.key, anyValue(kv.value));
  }
  return m;
}

// Every span of the decoded requests, with its resource's attributes.
function flatten(requests) {
  const spans = [];
  const resources = [];
  for (const req of requests)
    for (const rs of req.resourceSpans) {
      const res = attrMap(rs.resource && rs.resource.attributes);
      resources.push(res);
      for (const ss of rs.scopeSpans) {
        if (!ss.scope || ss.scope.name !== 'spanprof') fail('scope name is not spanprof');
        for (const s of ss.spans) spans.push({ s, res });
      }
    }
  return { spans, resources };
}

function openDb(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  const all = (sql, ...args) => {
    const st = db.prepare(sql);
    st.setReadBigInts(true);
    return st.all(...args);
  };
  return { db, all };
}

function compare(dbFile, requests, expectOneResourcePerProcess) {
  const { all } = openDb(dbFile);
  const cols = all("SELECT name FROM pragma_table_info('spans')").map((r) => r.name);
  const cut = cols.includes('cut') ? 'cut' : '0 AS cut';
  // The export carries the recorded ids (spans.recorded_id; a database of
  // an older merge, or the fixture, has span_id = the recorded id).
  const rec = cols.includes('recorded_id')
    ? 'recorded_id AS rec_id, recorded_parent_id AS rec_parent'
    : 'span_id AS rec_id, parent_id AS rec_parent';
  const rows = all(`SELECT span_id, ${rec}, trace_id, pid, tid, name, start_ns, end_ns,
                    ${cut} FROM spans`);
  const { spans, resources } = flatten(requests);
  if (spans.length !== rows.length) fail(`${spans.length} spans decoded, ${rows.length} in the db`);
  const byId = new Map(spans.map(({ s, res }) => [hex(s.spanId), { s, res }]));
  const traceOfText = new Map(); // db trace_id text -> OTLP trace id
  for (const r of rows) {
    const id = big(r.rec_id).toString(16).padStart(16, '0');
    const got = byId.get(id);
    if (!got) { fail(`span ${id} (${r.name}) missing`); continue; }
    const { s, res } = got;
    if (s.name !== r.name) fail(`span ${id}: name ${s.name} != ${r.name}`);
    const parent = r.rec_parent === null ? '' : big(r.rec_parent).toString(16).padStart(16, '0');
    if (hex(s.parentSpanId) !== parent) fail(`span ${id}: parent ${hex(s.parentSpanId)} != ${parent}`);
    const trace = hex(s.traceId);
    if (trace.length !== 32 || /^0+$/.test(trace)) fail(`span ${id}: bad trace id ${trace}`);
    if (/^[0-9a-f]{32}$/.test(r.trace_id || '')) {
      if (trace !== r.trace_id) fail(`span ${id}: trace ${trace} != ${r.trace_id}`);
    } else if (traceOfText.has(r.trace_id) && traceOfText.get(r.trace_id) !== trace) {
      fail(`span ${id}: spans of trace '${r.trace_id}' got two trace ids`);
    }
    traceOfText.set(r.trace_id, trace);
    if (big(s.startTimeUnixNano) !== r.start_ns) fail(`span ${id}: start ${s.startTimeUnixNano} != ${r.start_ns}`);
    if (r.end_ns !== null && big(s.endTimeUnixNano) !== r.end_ns)
      fail(`span ${id}: end ${s.endTimeUnixNano} != ${r.end_ns}`);
    const attrs = attrMap(s.attributes);
    if (attrs.get('thread.id') !== r.tid) fail(`span ${id}: thread.id ${attrs.get('thread.id')}`);
    const want = all(`SELECT key, value FROM span_attrs WHERE span_id = ? ORDER BY key, rowid DESC`,
      r.span_id);
    const seen = new Set();
    for (const a of want) {
      if (seen.has(a.key)) continue;
      seen.add(a.key);
      const v = attrs.get(a.key);
      // types: INTEGER -> intValue (BigInt), REAL -> doubleValue, TEXT -> stringValue
      if (typeof v !== typeof a.value || v !== a.value)
        fail(`span ${id}: attribute ${a.key} = ${v} (${typeof v}), db ${a.value} (${typeof a.value})`);
    }
    const code = s.status ? s.status.code : 0;
    if (r.cut > 0n && (code !== 2 || !/spanprof/.test(s.status.message)))
      fail(`span ${id}: cut ${r.cut} but status ${code}`);
    if (r.cut === 0n && code !== 0) fail(`span ${id}: status ${code} without a cut`);
    if (r.cut > 0n && attrs.get('spanprof.cut') !== r.cut) fail(`span ${id}: spanprof.cut`);
    const proc = all('SELECT host, exe, cmdline FROM processes WHERE pid = ? ORDER BY start_ns DESC LIMIT 1', r.pid)[0];
    if (res.get('process.pid') !== r.pid) fail(`span ${id}: process.pid ${res.get('process.pid')} != ${r.pid}`);
    if (proc) {
      if (res.get('host.name') !== proc.host) fail(`span ${id}: host.name ${res.get('host.name')}`);
      if (res.get('process.executable.path') !== proc.exe) fail(`span ${id}: exe ${res.get('process.executable.path')}`);
      if (res.get('process.command_line') !== proc.cmdline) fail(`span ${id}: cmdline`);
      const service = process.env.SPANPROF_SERVICE || path.basename(proc.exe);
      if (res.get('service.name') !== service) fail(`span ${id}: service.name ${res.get('service.name')} != ${service}`);
    }
  }
  const pids = new Set(rows.map((r) => r.pid));
  if (expectOneResourcePerProcess && resources.length !== pids.size)
    fail(`${resources.length} ResourceSpans for ${pids.size} processes`);
  return spans.length;
}

function finish(what) {
  if (problems.length) {
    console.log(problems.join('\n'));
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

function checkFile(file, db) {
  const req = Request.decode(fs.readFileSync(file));
  const n = compare(db, [req], true);
  finish(`${n} spans`);
}

function listTrace(file) {
  const { spans } = flatten([Request.decode(fs.readFileSync(file))]);
  console.log(`traces ${new Set(spans.map(({ s }) => hex(s.traceId))).size}`);
  for (const { s, res } of spans)
    console.log(`${s.name} ${hex(s.traceId)} ${hex(s.spanId)} ${hex(s.parentSpanId) || '-'} ${res.get('host.name')}`);
}

function checkPush(db, cli, fails, extra) {
  const requests = [];
  let answered503 = 0;
  const server = http.createServer((req, res) => {
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') fail(`${req.method} ${req.url}`);
      if (req.headers['content-type'] !== 'application/x-protobuf')
        fail(`content-type ${req.headers['content-type']}`);
      if (req.headers['x-tenant'] !== 'spanprof-test') fail(`x-tenant header ${req.headers['x-tenant']}`);
      const buf = Buffer.concat(body);
      if (buf.length >= 4 << 20) fail(`request of ${buf.length} bytes`);
      if (answered503 < fails) {
        answered503++;
        res.writeHead(503, { 'Content-Type': 'text/plain' });
        res.end('busy');
        return;
      }
      requests.push(Request.decode(buf));
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    const child = spawn(cli, ['push', db, '--endpoint', `http://127.0.0.1:${port}/`,
      '--header', 'X-Tenant=spanprof-test', ...extra], { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { fail('push took over 60 s'); child.kill(); }, 60000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      server.close();
      if (code !== 0) fail(`push exited ${code}: ${err}`);
      if (answered503 !== fails) fail(`answered 503 ${answered503} times, wanted ${fails}`);
      const n = compare(db, requests, false);
      finish(`${n} spans in ${requests.length} requests after ${answered503} retries`);
    });
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'file') checkFile(args[0], args[1]);
else if (mode === 'trace') listTrace(args[0]);
else if (mode === 'push') checkPush(args[0], args[1], Number(args[2]), args.slice(3));
else {
  console.error('usage: check_otlp.js file OTLP DB | push DB SPANPROF FAILS [ARGS] | trace OTLP');
  process.exit(2);
}
