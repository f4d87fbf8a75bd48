// validate_speedscope.js - validates a speedscope file against the JSON
// schema shipped in the npm package `speedscope`, with ajv (both installed
// by scripts/install-readers.sh). Also checks what the schema cannot: frame
// indices in range and evented profiles properly nested.
// usage: node validate_speedscope.js READERS_DIR FILE ; exit 0 = valid.
'use strict';
const path = require('path');
const fs = require('fs');
const [readers, file] = process.argv.slice(2);
const mods = path.join(readers, 'node_modules');
const Ajv = require(path.join(mods, 'ajv'));
const schema = JSON.parse(fs.readFileSync(
    path.join(mods, 'speedscope', 'dist', 'release', 'file-format-schema.json'), 'utf8'));
const data = JSON.parse(fs.readFileSync(file, 'utf8'));
const ajv = new Ajv({allErrors: true, strict: false});
const validate = ajv.compile(schema);
if (!validate(data)) {
  console.error('schema errors:', JSON.stringify(validate.errors, null, 1));
  process.exit(1);
}
const nframes = data.shared.frames.length;
let nsamples = 0, nevents = 0;
for (const p of data.profiles) {
  if (p.type === 'sampled') {
    if (p.samples.length !== p.weights.length) throw new Error('weights length');
    for (const s of p.samples)
      for (const f of s)
        if (f < 0 || f >= nframes) throw new Error('frame out of range');
    nsamples += p.samples.length;
  } else {
    const open = [];
    let last = -Infinity;
    for (const e of p.events) {
      if (e.at < last) throw new Error('events not sorted');
      last = e.at;
      if (e.frame < 0 || e.frame >= nframes) throw new Error('frame out of range');
      if (e.type === 'O') open.push(e.frame);
      else if (open.pop() !== e.frame) throw new Error('close does not match open');
    }
    if (open.length) throw new Error('unclosed frames');
    nevents += p.events.length;
  }
}
console.log(`valid: ${data.profiles.length} profiles, ${nsamples} samples, ${nevents} events`);
