/**
 * The fabrics the routing lab tests and bench/loss build, with their addresses
 * (203.0.113.0/24 for links, RFC 5737):
 *
 *   one ToR:   tor ─ fab0 ═ fab0 ─ w          203.0.113.0/30 (and 2001:db8:ffff::/64)
 *              tor ─ fab1 ═ fab0 ─ h          203.0.113.8/30, h's default via the ToR
 *
 *   two ToRs:  torA ─ worker ═ upA ─ wk       203.0.113.0/30 (and 2001:db8:f:1::/64)
 *              torB ─ worker ═ upB ─ wk       203.0.113.4/30 (and 2001:db8:f:2::/64)
 *              torA ─ torB ═ torA ─ torB      203.0.113.16/30, the ToR pair's iBGP link
 *              torA ─ host ═ toA ─ h          203.0.113.8/30
 *              torB ─ host ═ toB ─ h          203.0.113.12/30, h's own 203.0.113.100 on lo
 *
 * Only namespaces and links: the daemons and the agent are each test's own.
 */
import type { Lab } from './lab.js';
import type { Netns } from './netns.js';

export const TOR_AS = 65000;
export const WK_AS = 65001;

// One ToR.
export const TOR4 = '203.0.113.1';
export const W4 = '203.0.113.2';
export const TOR6 = '2001:db8:ffff::1';
export const W6 = '2001:db8:ffff::2';
export const TORH = '203.0.113.9';
export const H4 = '203.0.113.10';

// Two ToRs.
export const TOR_A = '203.0.113.1';
export const WK_A = '203.0.113.2';
export const TOR_B = '203.0.113.5';
export const WK_B = '203.0.113.6';
export const TORA_H = '203.0.113.9';
export const H_A = '203.0.113.10';
export const TORB_H = '203.0.113.13';
export const H_B = '203.0.113.14';
export const TORA_TORB = '203.0.113.17';
export const TORB_TORA = '203.0.113.18';
/** h's own address (on lo): the source of its echoes, routed by both ToRs. */
export const H = '203.0.113.100';

/** tor and w linked over fab0, IPv4 (and IPv6 with `ipv6`). */
export async function torWorker(lab: Lab, o: { ipv6?: boolean } = {}): Promise<{ tor: Netns; w: Netns }> {
  const tor = await lab.netns('tor');
  const w = await lab.netns('w');
  const v6 = (a: string): string[] => (o.ipv6 ? [`${a}/64`] : []);
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, ...v6(TOR6)], bAddr: [`${W4}/30`, ...v6(W6)] });
  return { tor, w };
}

/** torWorker, and a host h behind the ToR (its default via the ToR). */
export async function torWorkerHost(lab: Lab, o: { ipv6?: boolean } = {}): Promise<{ tor: Netns; w: Netns; h: Netns }> {
  const { tor, w } = await torWorker(lab, o);
  const h = await lab.netns('h');
  await lab.link(tor, h, { aName: 'fab1', bName: 'fab0', aAddr: [`${TORH}/30`], bAddr: [`${H4}/30`] });
  await h.addRoute('default', { via: TORH });
  return { tor, w, h };
}

export interface Uplinks {
  readonly torA: Netns;
  /** Absent with `tors: 1`. */
  readonly torB: Netns | undefined;
  readonly wk: Netns;
  /** The worker's link to torA (upA). */
  readonly upA: string;
}

/**
 * The worker wk and its ToRs (two, or torA only with `tors: 1`), each over a link named
 * `worker` on the ToR and upA / upB on the worker; IPv4, and IPv6 with `ipv6`.
 */
export async function uplinks(lab: Lab, o: { tors?: 1 | 2; ipv6?: boolean } = {}): Promise<Uplinks> {
  const torA = await lab.netns('tora');
  const torB = o.tors === 1 ? undefined : await lab.netns('torb');
  const wk = await lab.netns('wk');
  const v6 = (a: string): string[] => (o.ipv6 ? [`${a}/64`] : []);
  const { bIf: upA } = await lab.link(torA, wk, { aName: 'worker', bName: 'upA', aAddr: [`${TOR_A}/30`, ...v6('2001:db8:f:1::1')], bAddr: [`${WK_A}/30`, ...v6('2001:db8:f:1::2')] });
  if (o.ipv6) {
    // Linux drops a link's IPv6 addresses when it goes down unless told to keep them; a
    // real host's network configuration puts them back, the lab keeps them.
    await wk.sysctl(`net.ipv6.conf.${upA}.keep_addr_on_down`, '1');
  }
  if (torB) await lab.link(torB, wk, { aName: 'worker', bName: 'upB', aAddr: [`${TOR_B}/30`, ...v6('2001:db8:f:2::1')], bAddr: [`${WK_B}/30`, ...v6('2001:db8:f:2::2')] });
  return { torA, torB, wk, upA };
}

/** uplinks with both ToRs. */
export async function dualUplinks(lab: Lab, o: { ipv6?: boolean } = {}): Promise<Uplinks & { readonly torB: Netns }> {
  const u = await uplinks(lab, { ...o, tors: 2 });
  return { ...u, torB: u.torB! };
}

/**
 * A host h behind torA (and torB): its own H on lo, each ToR routing H to it, and the
 * containers' range (198.51.100.0/24) from H via the ToRs (ECMP over both when there are
 * two). With two ToRs, also their iBGP link (TORA_TORB / TORB_TORA): see TOR_PAIR_*.
 */
export async function hostBehind(lab: Lab, torA: Netns, torB?: Netns): Promise<Netns> {
  const h = await lab.netns('h');
  await lab.link(torA, h, { aName: 'host', bName: 'toA', aAddr: [`${TORA_H}/30`], bAddr: [`${H_A}/30`] });
  if (torB) {
    await lab.link(torB, h, { aName: 'host', bName: 'toB', aAddr: [`${TORB_H}/30`], bAddr: [`${H_B}/30`] });
    await lab.link(torA, torB, { aName: 'torB', bName: 'torA', aAddr: [`${TORA_TORB}/30`], bAddr: [`${TORB_TORA}/30`] });
  }
  await h.ip(['addr', 'add', `${H}/32`, 'dev', 'lo']);
  const via = torB ? ['nexthop', 'via', TORA_H, 'nexthop', 'via', TORB_H] : ['via', TORA_H];
  await h.ip(['route', 'add', '198.51.100.0/24', 'src', H, ...via]);
  await torA.ip(['route', 'add', `${H}/32`, 'via', H_A]);
  if (torB) await torB.ip(['route', 'add', `${H}/32`, 'via', H_B]);
  return h;
}

/**
 * FRR on torA (extraConfig): iBGP to torB, each one's worker routes reach the other with
 * itself as next hop. torA is only a graceful restart helper towards torB: FRR 8.4 ends
 * its post-restart selection deferral for a family once every restarting-mode session up
 * so far sent End-of-RIB, and zebra then sweeps the stale routes of every family. torB's
 * IPv4-only session, up before the worker's, would end it before the worker's routes are
 * back (docs/dual-homed.md "torA: FRR").
 */
export const TOR_PAIR_FRR = [
  `router bgp ${TOR_AS}`,
  ` neighbor ${TORB_TORA} remote-as ${TOR_AS}`,
  ` neighbor ${TORB_TORA} timers connect 2`,
  ` neighbor ${TORB_TORA} graceful-restart-helper`,
  ' address-family ipv4 unicast',
  `  neighbor ${TORB_TORA} activate`,
  `  neighbor ${TORB_TORA} next-hop-self`,
  ' exit-address-family',
  'exit',
].join('\n');

/**
 * BIRD on torB (extraConfig): the same pair seen from torB. A graceful restart helper
 * (BIRD's default, `aware`): torB started with `-R` still waits for torA's End-of-RIB on
 * it before its recovery ends (docs/dual-homed.md "torB: BIRD 2").
 */
export const TOR_PAIR_BIRD = [
  'protocol bgp tor_pair {',
  `  local as ${TOR_AS};`,
  `  neighbor ${TORA_TORB} as ${TOR_AS};`,
  '  connect retry time 2;',
  '  ipv4 { import all; export where source = RTS_BGP; next hop self; };',
  '}',
].join('\n');
