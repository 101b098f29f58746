/**
 * Two agents with the real BGP speaker, peering over the loopback (127.0.0.1 and
 * 127.0.0.2 on high ports; no namespace needed, nothing on the machine is changed):
 * sessions come up, each sends what it advertises, `routectl status` exits 0;
 * SIGHUP reloads a changed advertisement; one agent stopped by SIGTERM → the other
 * shows the Cease reason in words and `routectl status` exits 1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgent, type Agent } from '../../../src/agent.js';
import { ApiClient } from '../../../src/api/index.js';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log.js';
import { runCaptured, type CliRun } from './run.js';

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cli = (...argv: string[]): Promise<CliRun> => runCaptured(argv);

let dir: string;
let a: Agent;
let b: Agent;
let bFile: string;
let logs = '';
const log = () => createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, cb) { logs += c.toString(); cb(); } }) });

const yaml = (o: { me: string; port: number; asn: number; peer: string; peerPort: number; peerAsn: number; advertise: string[]; sock: string }) => `node: ${o.me}
routerId: ${o.me.replace(/^127\.0\.0\./, '203.0.113.')}
asn: ${o.asn}
bgp:
  listen: { address: ${o.me}, port: ${o.port} }
  holdTime: 9
  connectRetryTime: 1
  peers:
    - { address: ${o.peer}, asn: ${o.peerAsn}, port: ${o.peerPort}, localAddress: ${o.me}, families: [ipv4-unicast] }
  advertise: [${o.advertise.join(', ')}]
  import: ["198.51.100.0/24 le 32"]
api: { socket: ${o.sock} }
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-e2e-'));
  const [pa, pb] = [await freePort('127.0.0.1'), await freePort('127.0.0.2')];
  const aFile = join(dir, 'a.yaml');
  bFile = join(dir, 'b.yaml');
  writeFileSync(aFile, yaml({ me: '127.0.0.1', port: pa, asn: 65001, peer: '127.0.0.2', peerPort: pb, peerAsn: 4200000002, advertise: ['198.51.100.10/32', '192.0.2.0/24'], sock: join(dir, 'a.sock') }));
  writeFileSync(bFile, yaml({ me: '127.0.0.2', port: pb, asn: 4200000002, peer: '127.0.0.1', peerPort: pa, peerAsn: 65001, advertise: ['198.51.100.20/32'], sock: join(dir, 'b.sock') }));
  // learnedKernel null: the loopback is the root namespace, whose routes a test must not change.
  a = await runAgent(loadConfig(aFile), { configPath: aFile, log: log(), handleSignals: false, learnedKernel: null });
  b = await runAgent(loadConfig(bFile), { configPath: bFile, log: log(), handleSignals: true, learnedKernel: null });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('two agents over the loopback', () => {
  it('reach Established; status exits 0; each sends its advertisements', async () => {
    await until('both Established', async () => ((await cli('status', '--socket', a.api.path)).code === 0 && (await cli('status', '--socket', b.api.path)).code === 0 ? true : undefined));
    const st = await new ApiClient(a.api.path).status();
    expect(st.peers[0]).toMatchObject({ address: '127.0.0.2', asn: 4200000002, type: 'eBGP', state: 'Established', families: ['ipv4-unicast'] });
    expect(st.routes).toBe(2);
    const sent = await until('A has sent both prefixes to B', async () => {
      const r = await new ApiClient(a.api.path).routes({ view: 'advertised', peer: '127.0.0.2' });
      return r.routes.length === 2 ? r : undefined;
    });
    expect(sent.routes.map((r) => [r.prefix, r.peer, r.nextHops, r.asPath]).sort()).toEqual([
      ['192.0.2.0/24', '127.0.0.2', ['127.0.0.1'], '65001'],
      ['198.51.100.10/32', '127.0.0.2', ['127.0.0.1'], '65001'],
    ]);
    // B got UPDATEs from A. (A loopback next hop fails the RFC 4271 6.3 NEXT_HOP check, so
    // B keeps none of them: route exchange itself is shown by the lab tests with real routers.)
    const detail = await new ApiClient(b.api.path).peer('127.0.0.1');
    expect(detail.messages.in.update).toBeGreaterThanOrEqual(1);
    expect(detail.prefixesReceived).toBe(0);
    const out = await cli('routes', '--advertised', '--socket', a.api.path);
    expect(out.code).toBe(0);
    expect(out.out).toMatch(/198\.51\.100\.10\/32\s+127\.0\.0\.2/);
    const peers = await cli('peers', '127.0.0.2', '--socket', a.api.path);
    expect(peers.out).toMatch(/State:\s+Established since/);
  });

  it('SIGHUP reloads the advertisements', async () => {
    const before = (await new ApiClient(a.api.path).peer('127.0.0.2')).messages.in.update;
    writeFileSync(bFile, readFileSync(bFile, 'utf8').replace('advertise: [198.51.100.20/32]', 'advertise: [198.51.100.20/32, 198.51.100.21/32]'));
    process.kill(process.pid, 'SIGHUP');
    await until('B reloaded', async () => (logs.includes('"event":"applied"') ? true : undefined), 5000);
    const r = await until('B advertises the new prefix', async () => {
      const x = await new ApiClient(b.api.path).routes({ view: 'advertised' });
      return x.routes.some((y) => y.prefix === '198.51.100.21/32') ? x : undefined;
    });
    expect(r.routes.map((y) => y.prefix).sort()).toEqual(['198.51.100.20/32', '198.51.100.21/32']);
    expect((await new ApiClient(b.api.path).status()).routes).toBe(2);
    await until('A got the UPDATE', async () => ((await new ApiClient(a.api.path).peer('127.0.0.2')).messages.in.update > before ? true : undefined));
  });

  it('SIGTERM stops B gracefully (a close without NOTIFICATION, RFC 4724); A says so and status exits 1', async () => {
    const bSock = b.api.path;
    process.kill(process.pid, 'SIGTERM');
    expect(await b.done).toBe(0);
    const st = await until('A sees the peer go down', async () => {
      const r = await cli('status', '--socket', a.api.path);
      return r.code === 1 ? r : undefined;
    });
    // Both announce graceful restart and neither sets the RFC 8538 N bit: B just closes, and A keeps B's routes stale.
    expect(st.out).toMatch(/Idle .* connection closed by peer/);
    expect((await cli('status', '--socket', bSock)).code).toBe(2);
  });
});
