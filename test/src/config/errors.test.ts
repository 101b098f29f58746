/**
 * One row per class of config error: the problem's field path and its exact message and
 * fix. A config with any problem yields no Config at all.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/index.js';

const head = 'node: w1\nrouterId: 192.0.2.2\nasn: 65001\n';

function problems(text: string): { path: string; line: string }[] {
  try {
    parseConfig(text, 't.yaml', { hostname: 'h' });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const ce = e as ConfigError;
    const lines = ce.message.split('\n');
    expect(lines).toHaveLength(ce.problems.length);
    return ce.problems.map((p, i) => ({ path: p.path, line: lines[i] ?? '' }));
  }
  throw new Error('config was accepted');
}

// [what, yaml, field path, text the line must contain]
const rows: [string, string, string, string][] = [
  ['missing routerId', 'asn: 65001\n', 'routerId', 'routerId: missing; fix: add it: an IPv4 address'],
  ['routerId IPv6', 'routerId: "2001:db8::1"\nasn: 1\n', 'routerId', 'is not an IPv4 address'],
  ['routerId zero', 'routerId: 0.0.0.0\nasn: 1\n', 'routerId', 'router id 0.0.0.0 is not allowed (RFC 6286)'],
  ['asn 0', 'routerId: 192.0.2.2\nasn: 0\n', 'asn', 'AS 0 is reserved (RFC 7607); fix: use the AS number, 1..4294967295'],
  ['asn too big', 'routerId: 192.0.2.2\nasn: 4294967296\n', 'asn', '4294967296 is larger than 4294967295'],
  ['asdot half too big', 'routerId: 192.0.2.2\nasn: "1.70000"\n', 'asn', 'asdot 1.70000: each half must be 0..65535'],
  ['asn text', 'routerId: 192.0.2.2\nasn: abc\n', 'asn', 'expected an AS number, got "abc"'],
  ['unknown top key', `${head}nodes: x\n`, 'nodes', 'nodes: unknown key; fix: did you mean node?'],
  ['unknown key, no near match', `${head}bgp: { zzz: 1 }\n`, 'bgp.zzz', 'unknown key; fix: remove it; the keys here are: listen, holdTime, connectRetryTime, peers, advertise, allowDefault, import'],
  ['hold time 2', `${head}bgp: { holdTime: 2 }\n`, 'bgp.holdTime', 'hold time 2 is not allowed (RFC 4271 4.2: 0 or at least 3)'],
  ['peer hold time 1', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, holdTime: 1 }] }\n`, 'bgp.peers[0].holdTime', 'hold time 1 is not allowed'],
  ['hold time not a number', `${head}bgp: { holdTime: "90s" }\n`, 'bgp.holdTime', 'expected a hold time in seconds, got "90s"'],
  ['listen port range', `${head}bgp: { listen: { port: -1 } }\n`, 'bgp.listen.port', '-1 is out of range'],
  ['gracefulShutdown wait too long', `${head}bgp: { gracefulShutdown: { wait: 7200 } }\n`, 'bgp.gracefulShutdown.wait', '7200 is out of range; fix: use seconds drain waits with GRACEFUL_SHUTDOWN sent before it withdraws (0: off), 0..3600'],
  ['gracefulShutdown unknown key', `${head}bgp: { gracefulShutdown: { time: 10 } }\n`, 'bgp.gracefulShutdown.time', 'unknown key'],
  ['connectRetryTime 0', `${head}bgp: { connectRetryTime: 0 }\n`, 'bgp.connectRetryTime', '0 is out of range; fix: use seconds between connection attempts, 1..65535'],
  ['peer bad address', `${head}bgp: { peers: [{ address: 192.0.2.256, asn: 1 }] }\n`, 'bgp.peers[0].address', '"192.0.2.256" is not an IPv4 or IPv6 address'],
  ['peer leading zero', `${head}bgp: { peers: [{ address: 192.0.2.01, asn: 1 }] }\n`, 'bgp.peers[0].address', 'is not an IPv4 or IPv6 address'],
  ['peer missing asn', `${head}bgp: { peers: [{ address: 192.0.2.1 }] }\n`, 'bgp.peers[0].asn', 'bgp.peers[0].asn: missing'],
  ['peer password empty', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, password: "" }] }\n`, 'bgp.peers[0].password', 'empty password'],
  ['peer password too long', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, password: ${'x'.repeat(81)} }] }\n`, 'bgp.peers[0].password', 'password is 81 bytes, longer than the 80 TCP-MD5 allows'],
  ['peer password placeholder', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, password: <redacted> }] }\n`, 'bgp.peers[0].password', '<redacted> is what routectl validate prints in place of a password'],
  ['peer passwordFile not a file', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, passwordFile: /dev/null }] }\n`, 'bgp.peers[0].passwordFile', '/dev/null is not a regular file'],
  ['peer passwordFile relative', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, passwordFile: tor.pw }] }\n`, 'bgp.peers[0].passwordFile', '"tor.pw" is not an absolute path'],
  ['peer passwordFile missing', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, passwordFile: /nonexistent/tor.pw }] }\n`, 'bgp.peers[0].passwordFile', 'cannot read /nonexistent/tor.pw: no such file'],
  ['peer ttlSecurity hops 0', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, ttlSecurity: { hops: 0 } }] }\n`, 'bgp.peers[0].ttlSecurity.hops', '0 is out of range; fix: use a hop count (1: directly connected), 1..254'],
  ['peer ttlSecurity unknown key', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, ttlSecurity: { hop: 1 } }] }\n`, 'bgp.peers[0].ttlSecurity.hop', 'unknown key; fix: remove it; the keys here are: hops'],
  ['peer families empty', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, families: [] }] }\n`, 'bgp.peers[0].families', 'no address family'],
  ['peer family unknown', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, families: [ipv4-multicast] }] }\n`, 'bgp.peers[0].families[0]', '"ipv4-multicast" is not one of ipv4-unicast, ipv6-unicast'],
  ['peer passive not bool', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, passive: "yes" }] }\n`, 'bgp.peers[0].passive', 'expected true or false, got "yes"'],
  ['peer maxPrefixes 0', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, maxPrefixes: 0 }] }\n`, 'bgp.peers[0].maxPrefixes.limit', '0 is out of range'],
  ['peer maxPrefixes restart 0', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, maxPrefixes: { limit: 10, restart: 0 } }] }\n`, 'bgp.peers[0].maxPrefixes.restart', '0 is out of range; fix: use seconds the peer stays down after a max-prefix shutdown, 1..3932100'],
  ['peer maxPrefixes unknown key', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, maxPrefixes: { limit: 10, restrat: 60 } }] }\n`, 'bgp.peers[0].maxPrefixes.restrat', 'unknown key; fix: did you mean restart?'],
  ['duplicate peer', `${head}bgp: { peers: [{ address: "2001:db8::1", asn: 1 }, { address: "2001:DB8:0::1", asn: 2 }] }\n`, 'bgp.peers[1].address', 'duplicate peer 2001:db8::1 (also bgp.peers[0])'],
  ['localAddress family', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 1, localAddress: "::1" }] }\n`, 'bgp.peers[0].localAddress', '::1 is not the same address family as the peer 192.0.2.1'],
  ['passive without listener', `${head}bgp: { listen: { port: 0 }, peers: [{ address: 192.0.2.1, asn: 1, passive: true }] }\n`, 'bgp.peers[0].passive', 'bgp.listen.port is 0 (no listener)'],
  ['passive v4 peer, v6 listener', `${head}bgp: { listen: { address: "2001:db8::2" }, peers: [{ address: 192.0.2.1, asn: 1, passive: true }] }\n`, 'bgp.peers[0].address', 'passive IPv4 peer, but bgp.listen.address 2001:db8::2 only accepts IPv6 connections'],
  ['advertise host bits', `${head}bgp: { advertise: [198.51.100.1/24] }\n`, 'bgp.advertise[0]', '198.51.100.1/24 has host bits set; fix: write 198.51.100.0/24'],
  ['advertise not a prefix', `${head}bgp: { advertise: [198.51.100.1] }\n`, 'bgp.advertise[0]', 'is not a prefix'],
  ['advertise length', `${head}bgp: { advertise: [198.51.100.1/33] }\n`, 'bgp.advertise[0]', 'is not a prefix'],
  ['advertise duplicate', `${head}bgp: { advertise: ["2001:db8::/32", "2001:0db8::/32"] }\n`, 'bgp.advertise[1]', '2001:db8::/32 is listed twice (also bgp.advertise[0])'],
  ['import object form', `${head}bgp: { import: [{ prefix: 10.0.0.0/8, le: 32 }] }\n`, 'bgp.import[0]', 'expected a prefix-list entry as a string, got a mapping; fix: write PREFIX [ge N] [le M]'],
  ['import le < length', `${head}bgp: { import: ["10.0.0.0/8 le 4"] }\n`, 'bgp.import[0]', 'the lengths must satisfy 8 <= ge <= le <= 32'],
  ['import ge > le', `${head}bgp: { import: ["10.0.0.0/8 ge 24 le 16"] }\n`, 'bgp.import[0]', 'the lengths must satisfy'],
  ['import garbage', `${head}bgp: { import: ["10.0.0.0/8 upto 32"] }\n`, 'bgp.import[0]', 'is not a prefix-list entry'],
  ['import duplicate', `${head}bgp: { import: ["10.0.0.0/8 le 32", "10.0.0.0/8 ge 8 le 32"] }\n`, 'bgp.import[1]', 'is listed twice'],
  ['list given a scalar', `${head}bgp: { advertise: 203.0.113.1/32 }\n`, 'bgp.advertise', 'expected a list, got a string'],
  ['mapping given a list', `${head}api: [x]\n`, 'api', 'expected a mapping, got a list'],
  ['null list', `${head}pools:\n`, 'pools', 'expected a list, got nothing (null)'],
  ['pool unknown zone', `${head}pools: [{ cidr: 198.51.100.0/28, zone: app }]\n`, 'pools[0].zone', 'unknown zone app; fix: define zone app under zones'],
  ['pool outside zone', `${head}pools: [{ cidr: 198.51.100.128/28, zone: app }]\nzones: [{ name: app, cidrs: [198.51.100.0/25] }]\n`, 'pools[0].cidr', '198.51.100.128/28 is not inside zone app (198.51.100.0/25)'],
  ['pool family outside zone', `${head}pools: [{ cidr: "2001:db8::/112", zone: app }]\nzones: [{ name: app, cidrs: [198.51.100.0/25] }]\n`, 'pools[0].cidr', 'is not inside zone app'],
  ['overlapping pools', `${head}pools: [{ cidr: 198.51.100.0/28, zone: app }, { cidr: 198.51.100.0/27, zone: app }]\nzones: [{ name: app, cidrs: [198.51.100.0/25] }]\n`, 'pools[1].cidr', '198.51.100.0/27 overlaps pools[0] (198.51.100.0/28)'],
  ['blockSize too short', `${head}pools: [{ cidr: 198.51.100.0/28, zone: app, blockSize: 24 }]\nzones: [{ name: app, cidrs: [198.51.100.0/25] }]\n`, 'pools[0].blockSize', 'block size /24 does not fit in 198.51.100.0/28; fix: use a length from 28 to 32'],
  ['duplicate zone', `${head}zones: [{ name: app, cidrs: [198.51.100.0/25] }, { name: app, cidrs: [198.51.100.128/25] }]\n`, 'zones[1].name', 'duplicate zone name "app" (also zones[0])'],
  ['zone named world', `${head}zones: [{ name: world, cidrs: [198.51.100.0/25] }]\n`, 'zones[0].name', '"world" is reserved'],
  ['zone name chars', `${head}zones: [{ name: App_1, cidrs: [198.51.100.0/25] }]\n`, 'zones[0].name', '"App_1" is not a zone name such as app'],
  ['zone without ranges', `${head}zones: [{ name: app, cidrs: [] }]\n`, 'zones[0].cidrs', 'a zone must own at least one range'],
  ['zone range covers everything', `${head}zones: [{ name: a, cidrs: ["::/0"] }]\n`, 'zones[0].cidrs[0]', '::/0 covers every address'],
  ['zones overlap', `${head}zones: [{ name: a, cidrs: [198.51.100.0/24] }, { name: b, cidrs: [198.51.100.128/25] }]\n`, 'zones[1].cidrs[0]', '198.51.100.128/25 overlaps 198.51.100.0/24 of zone "a" (zones[0].cidrs[0])'],
  ['ingress unknown zone', `${head}zones: [{ name: app, cidrs: [198.51.100.0/25], ingress: [{ from: dmz, ports: [tcp/80] }] }]\n`, 'zones[0].ingress[0].from', 'unknown zone "dmz"; fix: use one of: app, world'],
  ['ingress bad port', `${head}zones: [{ name: app, cidrs: [198.51.100.0/25], ingress: [{ from: world, ports: [http] }] }]\n`, 'zones[0].ingress[0].ports[0]', 'bad port spec "http"; fix: write "tcp/80"'],
  ['ingress port range reversed', `${head}zones: [{ name: app, cidrs: [198.51.100.0/25], ingress: [{ from: world, ports: [tcp/90-80] }] }]\n`, 'zones[0].ingress[0].ports[0]', 'empty port range in "tcp/90-80"'],
  ['ingress no ports', `${head}zones: [{ name: app, cidrs: [198.51.100.0/25], ingress: [{ from: world, ports: [] }] }]\n`, 'zones[0].ingress[0].ports', 'no ports listed'],
  ['policy action', `${head}policy: { defaultAction: accept }\n`, 'policy.defaultAction', '"accept" is not one of drop, reject'],
  ['policy openControlPlane', `${head}policy: { openControlPlane: yes-please }\n`, 'policy.openControlPlane', 'expected true'],
  ['store both', `${head}store: { local: {}, etcd: { endpoints: [http://203.0.113.5:2379] } }\n`, 'store', 'both local and etcd given; fix: choose one'],
  ['store none', `${head}store: {}\n`, 'store', 'no store chosen'],
  ['etcd no endpoints', `${head}store: { etcd: { endpoints: [] } }\n`, 'store.etcd.endpoints', 'no etcd endpoints'],
  ['etcd bad url', `${head}store: { etcd: { endpoints: [203.0.113.5:2379] } }\n`, 'store.etcd.endpoints[0]', 'is not an http(s) URL'],
  ['etcd mixed schemes', `${head}store: { etcd: { endpoints: [http://203.0.113.5:2379, https://203.0.113.6:2379] } }\n`, 'store.etcd.endpoints', 'http and https endpoints mixed'],
  ['etcd tls on http', `${head}store: { etcd: { endpoints: [http://203.0.113.5:2379], tls: { ca: /etc/ca.pem } } }\n`, 'store.etcd.tls', 'tls given for http:// endpoints'],
  ['etcd cert without key', `${head}store: { etcd: { endpoints: [https://203.0.113.5:2379], tls: { cert: /etc/c.pem } } }\n`, 'store.etcd.tls', 'cert without key'],
  ['etcd tls relative', `${head}store: { etcd: { endpoints: [https://203.0.113.5:2379], tls: { ca: ca.pem } } }\n`, 'store.etcd.tls.ca', 'is not an absolute path'],
  ['store path relative', `${head}store: { local: { path: var/lib } }\n`, 'store.local.path', '"var/lib" is not an absolute path'],
  ['api socket relative', `${head}api: { socket: routectl.sock }\n`, 'api.socket', 'is not an absolute path'],
  ['api socket too long', `${head}api: { socket: /${'x'.repeat(120)} }\n`, 'api.socket', 'longer than 107 bytes'],
  ['export prepend on an iBGP peer', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 65001, export: { prepend: 2 } }] }\n`, 'bgp.peers[0].export.prepend', "prepend on an iBGP peer (AS 65001 is this worker's own AS): routes to internal peers carry no AS path to lengthen; fix: remove prepend, or use med to make this path less preferred"],
  ['export prepend on an iBGP peer written asdot', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: "0.65001", export: { prepend: 1 } }] }\n`, 'bgp.peers[0].export.prepend', 'prepend on an iBGP peer (AS 65001'],
  ['export prepend out of range', `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 65002, export: { prepend: 17 } }] }\n`, 'bgp.peers[0].export.prepend', '17 is out of range'],
  ['metrics listen', `${head}metrics: { listen: "::1:9273" }\n`, 'metrics.listen', 'is not ADDRESS:PORT; fix: write ADDRESS:PORT, e.g. 127.0.0.1:9273 or "[::1]:9273"'],
  ['metrics port', `${head}metrics: { listen: "127.0.0.1:0" }\n`, 'metrics.listen', 'port 0 is out of range'],
  ['nice out of range', `${head}runtime: { nice: -21 }\n`, 'runtime.nice', '-21 is out of range; fix: use a nice value, -20..19'],
  ['nice not an integer', `${head}runtime: { nice: low }\n`, 'runtime.nice', 'expected a nice value, got "low"'],
  ['node name', 'node: "w 1"\nrouterId: 192.0.2.2\nasn: 1\n', 'node', '"w 1" is not a node name'],
  ['YAML syntax', `${head}bgp: { peers: [ }\n`, '', 'YAML:'],
  ['YAML duplicate key', `${head}asn: 2\n`, '', 'YAML: Map keys must be unique'],
];

describe('config errors', () => {
  for (const [what, yaml, path, text] of rows) {
    it(what, () => {
      const found = problems(yaml);
      const hit = found.find((p) => p.path === path);
      expect(hit, `no problem at ${path}: ${JSON.stringify(found)}`).toBeDefined();
      expect(hit?.line).toContain(text);
      expect(hit?.line).toMatch(/^t\.yaml(:\d+:\d+)?: .*; fix: .+/);
    });
  }

  it('empty file and non-mapping top level', () => {
    expect(problems('')[0]?.line).toBe('t.yaml: the file is empty; fix: start from deploy/agent.example.yaml');
    expect(problems('- a\n')[0]?.line).toContain('expected a mapping at the top, got a list');
  });

  it('reports every problem of a file, in file order, with its line', () => {
    const found = problems('routerId: 192.0.2.2\nasn: 0\nbgp:\n  holdTime: 2\n  peers:\n    - { address: x, asn: 1 }\n');
    expect(found.map((p) => p.path)).toEqual(['asn', 'bgp.holdTime', 'bgp.peers[0].address']);
    expect(found.map((p) => p.line.split(': ')[0])).toEqual(['t.yaml:2:6', 't.yaml:4:13', 't.yaml:6:18']);
  });

  it('prepend is accepted towards an eBGP peer, and prepend 0 towards an iBGP one', () => {
    const cfg = parseConfig(
      `${head}bgp: { peers: [{ address: 192.0.2.1, asn: 65002, export: { prepend: 2 } }, { address: 192.0.2.3, asn: 65001, export: { prepend: 0, med: 5 } }] }\n`,
      't.yaml',
      { hostname: 'h' },
    );
    expect(cfg.bgp.peers.map((p) => p.export?.prepend)).toEqual([2, 0]);
  });

  it('a missing file is a ConfigError naming the path', async () => {
    const { loadConfig } = await import('../../../src/config/index.js');
    expect(() => loadConfig('/nonexistent/agent.yaml')).toThrow(/\/nonexistent\/agent.yaml: cannot read the config: file not found/);
  });
});
