/**
 * Regenerates test/fixtures/bgp/: real BGP messages captured from FRR, BIRD and gobgpd
 * peering with each other in lab namespaces (tshark on the link, `tcp port 179`), split
 * into one hex file per message, plus manifest.json recording which scenario, sender and
 * configuration each file came from (the fixture test checks decoded fields against it).
 *
 * Run by hand, as root: `bash scripts/capture-fixtures.sh` (not part of the tests).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Lab,
  bgpMessagesFromPcap,
  run,
  startBird,
  startCapture,
  startFrr,
  startGobgp,
  waitFor,
  type CapturedMessage,
  type Netns,
} from '../test/lab/harness/index.js';

const OUT = join(process.cwd(), 'test/fixtures/bgp');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the manifest records about a sender: the facts its decoded messages must show. */
interface SpeakerFacts {
  readonly source: 'frr' | 'bird' | 'gobgp';
  readonly asn: number;
  readonly as4: boolean;
  readonly routerId: string;
  readonly v4: string;
  readonly v6: string;
  /** Filled in after the link exists. */
  linkLocal?: string;
  readonly families: readonly string[];
  /** Every prefix it may announce in this scenario (default routes included where configured). */
  readonly prefixes: readonly string[];
  readonly communities?: readonly string[];
  readonly largeCommunities?: readonly string[];
  readonly shutdownMessage?: string;
  /** ASNs prepended by an outbound route-map (after its own ASN in the AS_PATH). */
  readonly prepend?: readonly number[];
}

interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly speakers: Record<string, SpeakerFacts>; // keyed by session IPv4 address
  readonly config: Record<string, string>;
}

const FRR_V4 = '203.0.113.1';
const BIRD_V4 = '203.0.113.2';
const GOBGP_V4 = '203.0.113.3';
const FRR_V6 = '2001:db8:f::1';
const BIRD_V6 = '2001:db8:f::2';
const GOBGP_V6 = '2001:db8:f::3';

const FRR_TAG = `ip prefix-list TAGGED seq 5 permit 198.51.100.64/27
ipv6 prefix-list TAGGED6 seq 5 permit 2001:db8:a:1::/64
route-map TAG permit 10
 match ip address prefix-list TAGGED
 set community 65000:100 65000:200
 set large-community 4200000001:100:1
exit
route-map TAG permit 20
exit
route-map TAG6 permit 10
 match ipv6 address prefix-list TAGGED6
 set community 65000:600
 set large-community 4200000001:600:1
 set metric 50
exit
route-map TAG6 permit 20
exit`;

function frrPrependFor(peer: string, asn: number): string {
  return `route-map PREP permit 10
 set as-path prepend 4200000009
exit
router bgp ${asn}
 address-family ipv4 unicast
  neighbor ${peer} route-map PREP out
 exit-address-family
 address-family ipv6 unicast
  neighbor ${peer} route-map PREP out
 exit-address-family
exit`;
}

function frrTagFor(peer: string, asn: number): string {
  return `${FRR_TAG}
router bgp ${asn}
 address-family ipv4 unicast
  neighbor ${peer} route-map TAG out
 exit-address-family
 address-family ipv6 unicast
  neighbor ${peer} route-map TAG6 out
 exit-address-family
exit`;
}

// BIRD: a second static protocol whose routes carry communities (exported: its name starts with net4/net6).
const BIRD_TAG = `protocol static net4tag {
  ipv4;
  route 198.51.100.48/28 blackhole { bgp_community.add((65000,300)); bgp_large_community.add((4200000002,300,1)); };
}
protocol static net6tag {
  ipv6;
  route 2001:db8:b:1::/64 blackhole { bgp_community.add((65000,700)); bgp_large_community.add((4200000002,700,1)); };
}`;

async function linkLocalOf(ns: Netns, ifname: string): Promise<string> {
  return ns.linkLocal(ifname);
}

interface Captured {
  readonly scenario: Scenario;
  readonly messages: CapturedMessage[];
}

/** FRR (4-byte AS) <-> BIRD (4-byte AS): everything both send, then refresh, withdraw, shutdown. */
async function scenarioFrrBird(lab: Lab, as4Bird: boolean): Promise<Captured> {
  const name = as4Bird ? 'frr-bird' : 'frr-bird-as2';
  const frrAs = as4Bird ? 4200000001 : 65001;
  const birdAs = as4Bird ? 4200000002 : 65002;
  const tor = await lab.netns('ftor');
  const wk = await lab.netns('fbird');
  const { aIf, bIf } = await lab.link(tor, wk, { aAddr: [`${FRR_V4}/26`, `${FRR_V6}/64`], bAddr: [`${BIRD_V4}/26`, `${BIRD_V6}/64`] });
  const pcap = join(lab.dir, `${name}.pcap`);
  const cap = await startCapture(tor, aIf, pcap);
  const frrNets = ['198.51.100.16/28', '198.51.100.64/27', '2001:db8:a::/48', '2001:db8:a:1::/64'];
  const birdNets = ['198.51.100.32/28', '2001:db8:b::/48'];
  const birdPeerConfig = as4Bird
    ? 'enable extended messages on;\ngraceful restart on;\nenable route refresh on;'
    : 'enable as4 off;\ngraceful restart off;';
  const frrOpts = {
    asn: frrAs,
    routerId: FRR_V4,
    neighbors: [{ address: BIRD_V4, asn: birdAs, defaultOriginate: true }],
    networks: frrNets,
    extraConfig: as4Bird ? frrTagFor(BIRD_V4, frrAs) : frrPrependFor(BIRD_V4, frrAs),
  };
  const birdOpts = {
    asn: birdAs,
    routerId: BIRD_V4,
    neighbors: [{ address: FRR_V4, asn: frrAs }],
    networks: birdNets,
    peerConfig: birdPeerConfig,
    extraConfig: as4Bird ? BIRD_TAG : '',
  };
  const [frr, bird] = await Promise.all([startFrr(tor, frrOpts), startBird(wk, birdOpts)]);
  await frr.waitEstablished(BIRD_V4, 60_000);
  await waitFor(async () => (await bird.routes('ipv6-unicast')).has('2001:db8:a:1::/64') && (await frr.ribPrefixes('ipv6-unicast')).has('2001:db8:b::/48'), {
    what: 'routes exchanged', timeoutMs: 20_000, diagnostics: () => lab.logTails(),
  });
  await sleep(1500); // End-of-RIB markers and the first keepalives
  // Route refresh both ways (RFC 2918; BIRD answers with RFC 7313 BoRR/EoRR when enhanced refresh is on).
  await frr.vtysh(`clear bgp ipv4 unicast ${BIRD_V4} soft in`);
  await frr.vtysh(`clear bgp ipv6 unicast ${BIRD_V4} soft in`);
  await sleep(1000);
  await bird.birdc(`reload in peer_${FRR_V4.replace(/\./g, '_')}`);
  await sleep(1000);
  // Withdrawals: one IPv4 prefix (withdrawn routes field), one IPv6 (MP_UNREACH_NLRI).
  await frr.configure([`router bgp ${frrAs}`, 'address-family ipv4 unicast', 'no network 198.51.100.16/28', 'exit-address-family',
    'address-family ipv6 unicast', 'no network 2001:db8:a::/48', 'exit-address-family']);
  if (as4Bird) await bird.birdc('disable net4tag');
  if (as4Bird) await bird.birdc('disable net6tag');
  await sleep(1500);
  // RFC 9003 shutdown communication from FRR, then (after re-enabling) from BIRD.
  await frr.configure([`router bgp ${frrAs}`, `neighbor ${BIRD_V4} shutdown message maintenance`]);
  await sleep(1000);
  await frr.configure([`router bgp ${frrAs}`, `no neighbor ${BIRD_V4} shutdown`]);
  await frr.waitEstablished(BIRD_V4, 60_000);
  await sleep(1000);
  await bird.birdc(`disable peer_${FRR_V4.replace(/\./g, '_')} "bird maintenance"`);
  await sleep(1000);
  await cap.stop();
  const frrLl = await linkLocalOf(tor, aIf);
  const birdLl = await linkLocalOf(wk, bIf);
  await frr.stop();
  await bird.stop();
  const fams = ['ipv4-unicast', 'ipv6-unicast'];
  return {
    scenario: {
      name,
      description: as4Bird
        ? 'FRR AS 4200000001 <-> BIRD AS 4200000002, eBGP over IPv4, IPv4+IPv6 unicast, FRR default-originate, communities, refresh, withdraw, shutdown'
        : 'FRR AS 65001 <-> BIRD AS 65002 with `enable as4 off` (no 4-octet AS capability); FRR prepends 4200000009 on the way out, so its UPDATEs carry AS_TRANS in AS_PATH and the real path in AS4_PATH',
      speakers: {
        [FRR_V4]: {
          source: 'frr', asn: frrAs, as4: true, routerId: FRR_V4, v4: FRR_V4, v6: FRR_V6, linkLocal: frrLl, families: fams,
          prefixes: [...frrNets, '0.0.0.0/0', '::/0'],
          ...(as4Bird
            ? { communities: ['65000:100', '65000:200', '65000:600'], largeCommunities: ['4200000001:100:1', '4200000001:600:1'] }
            : { prepend: [4200000009] }),
          shutdownMessage: 'maintenance',
        },
        [BIRD_V4]: {
          source: 'bird', asn: birdAs, as4: as4Bird, routerId: BIRD_V4, v4: BIRD_V4, v6: BIRD_V6, linkLocal: birdLl, families: fams,
          prefixes: [...birdNets, ...(as4Bird ? ['198.51.100.48/28', '2001:db8:b:1::/64'] : [])],
          ...(as4Bird ? { communities: ['65000:300', '65000:700'], largeCommunities: ['4200000002:300:1', '4200000002:700:1'] } : {}),
          shutdownMessage: 'bird maintenance',
        },
      },
      config: { 'frr/bgpd.conf': frrConf(frr.dir), 'bird/bird.conf': birdConf(bird.conf) },
    },
    messages: bgpMessagesFromPcap(pcap),
  };
}

/** FRR (4-byte AS) <-> gobgpd (4-byte AS). */
async function scenarioFrrGobgp(lab: Lab): Promise<Captured> {
  const frrAs = 4200000001;
  const gAs = 4200000003;
  const tor = await lab.netns('gtor');
  const wk = await lab.netns('ggobgp');
  const { aIf, bIf } = await lab.link(tor, wk, { aAddr: [`${FRR_V4}/26`, `${FRR_V6}/64`], bAddr: [`${GOBGP_V4}/26`, `${GOBGP_V6}/64`] });
  const pcap = join(lab.dir, 'frr-gobgp.pcap');
  const cap = await startCapture(tor, aIf, pcap);
  const frrNets = ['198.51.100.16/28', '2001:db8:a::/48'];
  const frr = await startFrr(tor, { asn: frrAs, routerId: FRR_V4, neighbors: [{ address: GOBGP_V4, asn: gAs }], networks: frrNets });
  const gobgp = await startGobgp(wk, { asn: gAs, routerId: GOBGP_V4, neighbors: [{ address: FRR_V4, asn: frrAs }] });
  await gobgp.gobgp(['global', 'rib', 'add', '-a', 'ipv4', '198.51.100.96/27', 'community', '65000:900']);
  await gobgp.gobgp(['global', 'rib', 'add', '-a', 'ipv4', '198.51.100.128/27', 'med', '10']);
  await gobgp.gobgp(['global', 'rib', 'add', '-a', 'ipv6', '2001:db8:c::/48', 'large-community', '4200000003:900:1']);
  await frr.waitEstablished(GOBGP_V4, 60_000);
  await waitFor(async () => (await frr.ribPrefixes('ipv6-unicast')).has('2001:db8:c::/48'), { what: 'gobgp routes in FRR', timeoutMs: 20_000 });
  await sleep(1500);
  await frr.vtysh(`clear bgp ipv4 unicast ${GOBGP_V4} soft in`);
  await sleep(500);
  await gobgp.gobgp(['global', 'rib', 'del', '-a', 'ipv4', '198.51.100.128/27']);
  await gobgp.gobgp(['global', 'rib', 'del', '-a', 'ipv6', '2001:db8:c::/48']);
  await sleep(1000);
  // (gobgp's `softresetin` re-runs its own Adj-RIB-In and sends no ROUTE-REFRESH.)
  await gobgp.gobgp(['neighbor', FRR_V4, 'shutdown', '--reason', 'gobgp maintenance']);
  await sleep(1000);
  await cap.stop();
  const frrLl = await linkLocalOf(tor, aIf);
  const gLl = await linkLocalOf(wk, bIf);
  await gobgp.stop();
  await frr.stop();
  const fams = ['ipv4-unicast', 'ipv6-unicast'];
  return {
    scenario: {
      name: 'frr-gobgp',
      description: 'FRR AS 4200000001 <-> gobgpd AS 4200000003, eBGP over IPv4, IPv4+IPv6 unicast',
      speakers: {
        [FRR_V4]: { source: 'frr', asn: frrAs, as4: true, routerId: FRR_V4, v4: FRR_V4, v6: FRR_V6, linkLocal: frrLl, families: fams, prefixes: frrNets },
        [GOBGP_V4]: {
          source: 'gobgp', asn: gAs, as4: true, routerId: GOBGP_V4, v4: GOBGP_V4, v6: GOBGP_V6, linkLocal: gLl, families: fams,
          prefixes: ['198.51.100.96/27', '198.51.100.128/27', '2001:db8:c::/48'],
          communities: ['65000:900'], largeCommunities: ['4200000003:900:1'], shutdownMessage: 'gobgp maintenance',
        },
      },
      config: { 'frr/bgpd.conf': frrConf(frr.dir), 'gobgp/gobgpd.toml': readText(gobgp.conf) },
    },
    messages: bgpMessagesFromPcap(pcap),
  };
}

import { readFileSync } from 'node:fs';
const readText = (f: string) => readFileSync(f, 'utf8');
const frrConf = (dir: string) => readText(join(dir, 'bgpd.conf'));
// The log path is lab-specific; the fixture README shows the rest verbatim.
const birdConf = (f: string) => readText(f).replace(/^log ".*" all;$/m, 'log "bird.log" all;');

// ---------------------------------------------------------------------------------
// Naming: <nn>-<type>-<scenario>-<what>.hex, from a minimal look at the bytes (the
// codec under test is deliberately not used to label its own fixtures).
// ---------------------------------------------------------------------------------

const TYPE_NAMES: Record<number, string> = { 1: 'open', 2: 'update', 3: 'notification', 4: 'keepalive', 5: 'route-refresh' };

function describeUpdate(b: Buffer): string {
  const wlen = b.readUInt16BE(19);
  const alen = b.readUInt16BE(21 + wlen);
  const nlriLen = b.length - 23 - wlen - alen;
  const parts: string[] = [];
  let p = 23 + wlen;
  const end = p + alen;
  const codes = new Set<number>();
  let mpReach = '';
  let mpUnreach = '';
  while (p < end) {
    const flags = b[p] ?? 0;
    const code = b[p + 1] ?? 0;
    const len = flags & 0x10 ? b.readUInt16BE(p + 2) : (b[p + 2] ?? 0);
    const v = p + (flags & 0x10 ? 4 : 3);
    codes.add(code);
    if (code === 14) mpReach = b.readUInt16BE(v) === 2 ? 'ipv6' : 'ipv4';
    if (code === 15) mpUnreach = (b.readUInt16BE(v) === 2 ? 'ipv6' : 'ipv4') + (len === 3 ? '-eor' : '');
    p = v + len;
  }
  if (wlen === 0 && alen === 0 && nlriLen === 0) return 'eor-ipv4';
  if (mpUnreach.endsWith('-eor') && codes.size === 1) return `eor-${mpUnreach.replace('-eor', '')}`;
  if (wlen > 0) parts.push('withdraw-ipv4');
  if (nlriLen > 0) parts.push('ipv4');
  if (mpReach) parts.push(`mp-reach-${mpReach}`);
  if (mpUnreach) parts.push(`mp-unreach-${mpUnreach}`);
  if (codes.has(8)) parts.push('communities');
  if (codes.has(32)) parts.push('large-communities');
  if (codes.has(17)) parts.push('as4-path');
  return parts.join('-');
}

function describe(m: CapturedMessage): string {
  const b = m.bytes;
  switch (m.type) {
    case 1:
      return `as${b.readUInt16BE(20)}`;
    case 2:
      return describeUpdate(b);
    case 3: {
      const code = b[19];
      const sub = b[20];
      if (code === 6 && sub === 2) return 'cease-admin-shutdown';
      if (code === 6 && sub === 4) return 'cease-admin-reset';
      return `code${code}-sub${sub}`;
    }
    case 5:
      return `${b.readUInt16BE(19) === 2 ? 'ipv6' : 'ipv4'}${['', '-borr', '-eorr'][b[21] ?? 0] ?? `-sub${b[21]}`}`;
    default:
      return '';
  }
}

async function main(): Promise<void> {
  const lab = await Lab.create({ keep: process.env.RTC_LAB_KEEP === '1' });
  try {
    const results: Captured[] = [];
    results.push(await scenarioFrrBird(lab, true));
    results.push(await scenarioFrrBird(lab, false));
    results.push(await scenarioFrrGobgp(lab));
    const versions = {
      frr: (await run(['/usr/lib/frr/bgpd', '--version'])).split('\n')[0]?.trim() ?? '',
      bird: (await run(['bird', '--version']).catch(() => '')) || (await exec2(['bird', '--version'])),
      gobgpd: (await run(['gobgpd', '--version'])).trim(),
      tshark: (await run(['tshark', '--version'])).split('\n')[0]?.trim() ?? '',
    };
    for (const src of ['frr', 'bird', 'gobgp']) {
      const d = join(OUT, src);
      if (readdirSafe(d)) rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
    const counters: Record<string, number> = { frr: 0, bird: 0, gobgp: 0 };
    const seen = new Set<string>();
    const files: Record<string, unknown>[] = [];
    for (const { scenario, messages } of results) {
      let keepalives = 0;
      for (const m of messages) {
        const ip = m.from.split(':')[0] ?? '';
        const sp = scenario.speakers[ip];
        if (!sp) continue;
        const hex = m.bytes.toString('hex');
        // One copy of identical messages per source (keepalives, repeated EoRs after refresh).
        const key = `${sp.source}:${hex}`;
        if (seen.has(key)) continue;
        if (m.type === 4 && keepalives++ > 1) continue;
        seen.add(key);
        const nn = String(++counters[sp.source]!).padStart(2, '0');
        const what = describe(m);
        const file = `${sp.source}/${nn}-${TYPE_NAMES[m.type] ?? `type${m.type}`}-${scenario.name}${what ? `-${what}` : ''}.hex`;
        writeFileSync(join(OUT, file), `${hex}\n`);
        files.push({ file, scenario: scenario.name, from: m.from, to: m.to, type: TYPE_NAMES[m.type] });
      }
    }
    const manifest = {
      captured: new Date().toISOString().slice(0, 10),
      versions,
      scenarios: results.map((r) => ({ name: r.scenario.name, description: r.scenario.description, speakers: r.scenario.speakers })),
      files,
    };
    writeFileSync(join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const cfgDir = join(OUT, 'configs');
    rmSync(cfgDir, { recursive: true, force: true });
    for (const r of results) {
      for (const [k, text] of Object.entries(r.scenario.config)) {
        const f = join(cfgDir, r.scenario.name, k.replace('/', '-'));
        mkdirSync(join(cfgDir, r.scenario.name), { recursive: true });
        writeFileSync(f, text);
      }
    }
    console.log(`wrote ${files.length} fixtures: ${JSON.stringify(counters)}`);
  } catch (e) {
    console.error(lab.logTails());
    throw e;
  } finally {
    await lab.cleanup();
  }
}

function readdirSafe(d: string): boolean {
  try {
    readdirSync(d);
    return true;
  } catch {
    return false;
  }
}

async function exec2(argv: string[]): Promise<string> {
  const { exec } = await import('../test/lab/harness/index.js');
  const r = await exec(argv);
  return (r.stdout + r.stderr).trim();
}

await main();
