/**
 * The lab harness: network namespaces, veth links and real BGP peers (FRR, BIRD,
 * gobgpd) for lab tests, benchmarks and the demo. See test/lab/harness.test.ts for a
 * complete use.
 */
export { Lab, LAB_ROOT, NETNS_PREFIX, type LabOptions, type LinkOptions } from './lab.js';
export { Netns, type RouteOpts, type SpawnOpts } from './netns.js';
export { waitFor, WaitTimeoutError, type WaitOptions } from './wait.js';
export { kernelRoutes, kernelRouteMap, normalizePrefix, type KernelRoute, type IpFamily } from './routes.js';
export { exec, run, terminate, CommandError, type ExecResult, type ExecOptions } from './proc.js';
export { BOTH_FAMILIES, type Family, type NeighborOptions, type PeerAs, type RouterOptions } from './daemon.js';
export { Frr, startFrr, frrBgpConfig, type FrrOptions } from './frr.js';
export { Bird, startBird, birdConfig, birdProtocolName, type BirdOptions, type BirdProtocol, type BirdRoute } from './bird.js';
export { Gobgp, startGobgp, gobgpConfig, type GobgpOptions } from './gobgp.js';
export { startLossCounter, lossGaps, lossSummary, type LossCounter, type LossReport, type LossGap, type TargetLoss } from './loss.js';
export { startCapture, bgpMessagesFromPcap, type Capture, type CapturedMessage } from './capture.js';
export { LabEtcd, ETCD_MEMBERS, type EtcdMember, type EtcdTlsFiles } from './etcd.js';
export { Exabgp, startExabgp, exabgpConfig, type ExabgpOptions, type ExabgpRoute } from './exabgp.js';
