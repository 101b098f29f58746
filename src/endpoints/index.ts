/** Endpoints: the controller that wires, routes and advertises runtime containers. */
export { EndpointController, containerMac, type EndpointControllerOptions } from './controller.js';
export { Advertisements, type SpeakerAdvertiseTarget } from './advertisements.js';
export type * from './types.js';
