/**
 * runAgent over a stand-in speaker (records what the agent asks of it): the speaker gets
 * the config's peers and advertisements, the API answers with the docs/design.md status
 * fields, SIGHUP-style reload applies peer/advertise changes and keeps the running config
 * when the new file is invalid, stop closes sessions with a reason and removes the socket.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, speakerConfig, type SpeakerConfigForAgent, type SpeakerLike, type SpeakerPeerConfig, type SpeakerPeerStatus, type SpeakerRouteView } from '../../../src/agent.js';
import { ApiClient } from '../../../src/api/index.js';
import { parseConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log.js';
import { runCli } from '../../../src/cli/commands.js';

class FakeSpeaker extends EventEmitter implements SpeakerLike {
  calls: string[] = [];
  adverts: string[] = [];
  peers: readonly SpeakerPeerConfig[];
  imports: readonly string[];
  constructor(readonly cfg: SpeakerConfigForAgent) {
    super();
    this.peers = cfg.peers;
    this.imports = cfg.importFilter;
  }
  async start() { this.calls.push('start'); }
  async stop(reason?: string) { this.calls.push(`stop ${reason}`); }
  setAdvertisements(routes: readonly { prefix: string }[]) { this.adverts = routes.map((r) => r.prefix); }
  async setPeers(peers: readonly SpeakerPeerConfig[]) { this.peers = peers; this.calls.push(`setPeers ${peers.map((p) => p.address).join(',')}`); }
  setImportFilter(entries: readonly string[]) { this.imports = entries; }
  advertisedCount() { return this.adverts.length; }
  peerStatus(): SpeakerPeerStatus[] {
    const c = { open: 1, update: 1, notification: 0, keepalive: 1, routeRefresh: 0 };
    return this.peers.map((p, i) => ({
      address: p.address, asn: typeof p.asn === 'number' ? p.asn : 0, description: p.description ?? null, type: p.asn === this.cfg.asn ? 'iBGP' : 'eBGP',
      state: i === 0 ? 'Established' : 'Active', since: '2026-01-01T00:00:00.000Z', families: p.families ?? [], configuredFamilies: p.families ?? [],
      prefixesSent: this.adverts.length, prefixesReceived: 1, prefixesAccepted: 1,
      prefixesByFamily: { 'ipv4-unicast': { sent: this.adverts.length, received: 1, accepted: 1 }, 'ipv6-unicast': { sent: 0, received: 0, accepted: 0 } }, lastError: i === 0 ? null : 'connect: ECONNREFUSED, retry in 4 s',
      held: null,
      updateErrors: { 'attribute-discard': 0, 'treat-as-withdraw': 0, 'afisafi-disable': 0 },
      uptime: 5, holdTime: 90, keepalive: 30, capabilities: [], localAddress: null, remoteAddress: null,
      messages: { in: c, out: c }, flaps: 0, lastNotificationSent: null, lastNotificationReceived: null, problems: [], md5: false, ttlSecurityHops: null, bfd: null,
    }));
  }
  routes(q: { peer?: string; view?: 'received' | 'advertised' }): SpeakerRouteView[] {
    this.calls.push(`routes ${q.view} ${q.peer ?? '-'}`);
    return [{ prefix: '0.0.0.0/0', family: 'ipv4-unicast', view: q.view ?? 'received', peer: this.peers[0]?.address ?? '', nextHops: ['203.0.113.1'], attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65000, 65010] }, { type: 'set', asns: [1, 2] }], communities: [65000 * 65536 + 100] }, accepted: true, reason: null }];
  }
}

let dir: string;
let logText = '';
const log = () =>
  createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, cb) { logText += c.toString(); cb(); } }) });

const yaml = (over = '') => `node: w1
routerId: 203.0.113.2
asn: 65001
bgp:
  listen: { port: 0 }
  peers:
    - { address: 203.0.113.1, asn: 65000, description: tor-a }
    - { address: 203.0.113.3, asn: 65001, holdTime: 30 }
  advertise: [198.51.100.10/32, "2001:db8:c::10/128"]
  import: ["0.0.0.0/0"]
${over}api: { socket: ${dir}/run/routectl.sock }
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-agent-'));
  logText = '';
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function start(text = yaml()) {
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, text);
  let speaker: FakeSpeaker | undefined;
  const agent = await runAgent(parseConfig(text, file), {
    configPath: file,
    log: log(),
    handleSignals: false,
    createSpeaker: (cfg) => (speaker = new FakeSpeaker(cfg)),
  });
  return { agent, speaker: speaker as FakeSpeaker, file, client: new ApiClient(agent.api.path) };
}

describe('runAgent', () => {
  it('maps the config to the speaker: no listener for port 0, hold time spelt out per peer', () => {
    const cfg = speakerConfig(parseConfig(yaml(), 'x'));
    expect(cfg.listen).toBeNull();
    expect(cfg.peers.map((p) => [p.address, p.holdTime, p.description])).toEqual([['203.0.113.1', 90, 'tor-a'], ['203.0.113.3', 30, undefined]]);
    expect(cfg.importFilter).toEqual(['0.0.0.0/0']);
    expect(cfg.hostname).toBe('w1');
  });

  it('starts the speaker, advertises bgp.advertise, and answers status with the docs/design.md fields', async () => {
    const { agent, speaker, client } = await start();
    try {
      expect(speaker.calls[0]).toBe('start');
      expect(speaker.adverts).toEqual(['198.51.100.10/32', '2001:db8:c::10/128']);
      const s = await client.status();
      expect(s).toMatchObject({ node: 'w1', asn: 65001, routerId: '203.0.113.2', endpoints: 0, routes: 2 });
      expect(typeof s.uptimeSeconds).toBe('number');
      expect(typeof s.version).toBe('string');
      expect(s.peers[0]).toEqual({
        address: '203.0.113.1', asn: 65000, description: 'tor-a', type: 'eBGP', state: 'Established', since: '2026-01-01T00:00:00.000Z',
        families: ['ipv4-unicast', 'ipv6-unicast'], prefixesSent: 2, prefixesReceived: 1, prefixesAccepted: 1, lastError: null, held: null,
      });
      expect(s.peers[1]).toMatchObject({ type: 'iBGP', state: 'Active' });
      // Route views are mapped to the API's words: AS path text, origin name, communities.
      const r = await client.routes({ view: 'received', peer: '203.0.113.1' });
      expect(r.routes[0]).toMatchObject({ asPath: '65000 65010 {1,2}', origin: 'IGP', communities: ['65000:100'], med: null });
      expect(speaker.calls).toContain('routes received 203.0.113.1');
      await expect(client.peer('203.0.113.9')).rejects.toThrow(/203.0.113.9 is not a configured peer/);
      // Speaker-only mode: the kernel view lists this namespace's own (proto 88) routes.
      const k = await client.routes({ view: 'kernel' });
      expect(k).toMatchObject({ view: 'kernel', peer: null });
      expect(Array.isArray(k.routes)).toBe(true);
      // The CLI's exit code follows the peers: one is Active.
      expect(await runCli(['status', '--socket', agent.api.path], { out: () => {}, err: () => {} })).toBe(1);
    } finally {
      await agent.stop();
    }
  });

  it('reload applies peers, import and advertisements; an invalid file keeps the running config', async () => {
    const { agent, speaker, file, client } = await start();
    try {
      writeFileSync(file, yaml().replace('    - { address: 203.0.113.3, asn: 65001, holdTime: 30 }\n', '    - { address: 203.0.113.5, asn: 65005 }\n').replace('198.51.100.10/32, ', '').replace('"0.0.0.0/0"', '"0.0.0.0/0", "::/0"'));
      expect(await agent.reload()).toBe(true);
      expect(speaker.calls).toContain('setPeers 203.0.113.1,203.0.113.5');
      expect(speaker.adverts).toEqual(['2001:db8:c::10/128']);
      expect(speaker.imports).toEqual(['0.0.0.0/0', '::/0']);
      expect((await client.status()).routes).toBe(1);

      writeFileSync(file, yaml().replace('asn: 65000, description', 'asn: 0, description'));
      expect(await agent.reload()).toBe(false);
      expect(agent.config().bgp.peers.map((p) => p.address)).toEqual(['203.0.113.1', '203.0.113.5']);
      expect(logText).toMatch(/"event":"invalid".*bgp.peers\[0\].asn: AS 0 is reserved/);

      // asn needs a restart: logged, running value kept, the rest applied.
      writeFileSync(file, yaml().replace('asn: 65001\nbgp', 'asn: 65099\nbgp'));
      expect(await agent.reload()).toBe(true);
      expect(agent.config().asn).toBe(65001);
      expect(logText).toMatch(/"event":"needs-restart".*"fields":\["asn"\]/);
    } finally {
      await agent.stop();
    }
  });

  it('stop closes sessions with a reason, removes the socket, and resolves done with 0', async () => {
    const { agent, speaker } = await start();
    const sock = agent.api.path;
    expect(existsSync(sock)).toBe(true);
    await agent.stop('maintenance');
    expect(speaker.calls).toContain('stop maintenance');
    expect(existsSync(sock)).toBe(false);
    expect(await agent.done).toBe(0);
  });

  it('stops the speaker again when the API cannot start', async () => {
    let speaker: FakeSpeaker | undefined;
    writeFileSync(join(dir, 'run'), 'not a directory');
    const cfg = parseConfig(yaml(), 'x');
    await expect(runAgent(cfg, { log: log(), handleSignals: false, createSpeaker: (c) => (speaker = new FakeSpeaker(c)) })).rejects.toThrow(/cannot start the API on/);
    expect(speaker?.calls.some((c) => c.startsWith('stop'))).toBe(true);
  });
});
