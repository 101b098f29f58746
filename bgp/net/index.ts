/**
 * bgp/net: BGP's TCP transport where Node's own does not reach. native.ts is the one
 * module that calls the C library (koffi): socket, bind, setsockopt for TCP-MD5 (RFC 2385)
 * and GTSM (RFC 5082). tcp.ts turns those descriptors into net.Socket / net.Server.
 * secret.ts keeps passwords out of logs and JSON.
 */
export { NativeSocketError, nativeAvailable, TCP_MD5SIG_MAXKEYLEN } from './native.js';
export { GTSM_TTL, gtsmMinTtl, hasSecurity, secureConnect, SecureListener, type ListenerPeer, type TcpSecurity } from './tcp.js';
export { REDACTED, Secret } from './secret.js';
export { RA_INTERVAL, RouterAdvertiser, decodeRouterAdvertisement, encodeRouterAdvertisement, nativeSender, type AdvertiserDeps, type RouterAdvertisement } from './ra.js';
