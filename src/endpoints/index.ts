/** Endpoints: the controller that wires, routes and advertises runtime containers. */
export { EndpointController, containerMac, type EndpointControllerOptions } from './controller.js';
export { Advertisements, zoneTags, type SpeakerAdvertiseTarget, type RouteAdvertisement } from './advertisements.js';
export type * from './types.js';
