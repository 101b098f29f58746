/**
 * The helper launcher's process (started by src/dataplane/launcher.ts, which says why it
 * exists and what each message means): reads one JSON message a line on stdin, starts and
 * feeds the helpers, keeps the spares, and writes one line per helper that ended.
 *
 * Plain JavaScript, checked by tsc (checkJs) with the types of launcher.ts, so that it
 * runs as it is from the sources (tests), from dist/ and from a test's bundle.
 */
import { spawn } from 'node:child_process';

/** @typedef {import('./launcher.js').ToLauncher} In */
/** @typedef {import('./launcher.js').LauncherExit} Out */
/** @typedef {import('./launcher.js').SparesTemplate} Template */
/**
 * @typedef {object} Helper
 * @property {number | undefined} id  set when an open takes it (a spare has none yet)
 * @property {import('node:child_process').ChildProcessByStdio<import('node:stream').Writable, null, import('node:stream').Readable> | undefined} p
 * @property {string} stderr
 * @property {Omit<Out, 'op' | 'id'> | undefined} result
 */

/** @type {Map<number, Helper>} */
const kids = new Map();
/** @type {Helper[]} */
const spares = [];
/** @type {Template | null} */
let template = null;
let closing = false;

/** @param {Out} m */
const send = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);

/** @param {Helper} h */
function report(h) {
  if (h.id === undefined) return;
  kids.delete(h.id);
  send({ op: 'exit', id: h.id, ...h.result });
}

/** @param {readonly string[]} argv @param {Record<string, string>} env @returns {Helper} */
function start(argv, env) {
  /** @type {Helper} */
  const h = { id: undefined, p: undefined, stderr: '', result: undefined };
  /** @param {Omit<Out, 'op' | 'id'>} r */
  const fin = (r) => {
    if (h.result) return;
    h.result = r;
    if (h.id !== undefined) report(h);
    else if (spares.includes(h)) spares.splice(spares.indexOf(h), 1);
  };
  try {
    h.p = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env });
  } catch (err) {
    const e = /** @type {NodeJS.ErrnoException} */ (err);
    fin({ error: String(e?.code ?? e?.message ?? e) });
    return h;
  }
  const p = h.p;
  p.stdin.on('error', () => {});
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (/** @type {string} */ d) => {
    if (h.stderr.length < 4096) h.stderr += d;
  });
  p.on('error', (/** @type {NodeJS.ErrnoException} */ err) => fin({ error: String(err.code ?? err.message) }));
  p.on('close', (code, signal) => fin({ code, signal, stderr: h.stderr }));
  return h;
}

function refill() {
  while (template && !closing && spares.length < template.count) {
    const h = start(template.argv, template.env);
    if (h.result) return;
    spares.push(h);
  }
}

/** @param {In & { op: 'open' }} m */
function open(m) {
  let h = m.first !== undefined ? spares.shift() : undefined;
  if (h !== undefined && m.first !== undefined) {
    h.p?.stdin.write(m.first);
    setImmediate(refill);
  } else h = start(m.argv, m.env);
  h.id = m.id;
  kids.set(m.id, h);
  if (h.result) report(h);
}

/** @param {In} m */
function handle(m) {
  if (m.op === 'open') return open(m);
  if (m.op === 'spares') {
    template = m;
    return refill();
  }
  const p = kids.get(m.id)?.p;
  if (!p) return;
  if (m.op === 'write') p.stdin.write(m.data);
  else if (m.op === 'end') p.stdin.end(m.data);
  else if (m.op === 'kill') p.kill('SIGKILL');
}

let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (/** @type {string} */ chunk) => {
  buf += chunk;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line !== '') handle(/** @type {In} */ (JSON.parse(line)));
  }
});
process.stdin.on('end', () => {
  closing = true;
  for (const h of [...kids.values(), ...spares]) h.p?.stdin.end();
});
