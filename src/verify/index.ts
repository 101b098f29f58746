/** `routectl verify`: desired endpoints vs own kernel state vs what each peer was sent. */
export { verify, type Mismatch, type MismatchKind, type VerifyEndpoint, type VerifyInput, type VerifyLink, type VerifyPeer, type VerifyReport, type VerifyRoute } from './verify.js';
export { runVerify, type VerifySources } from './gather.js';
export { kernelRouteEntries, netlinkOwnState, ownStateOf, routeCountsByFamily, type OwnKernelState, type OwnStateSource } from './kernel-view.js';
