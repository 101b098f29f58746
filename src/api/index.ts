/** The control API: server (agent side), client (CLI side), shared JSON types and errors. */
export { startApiServer, builtinRoutes, createApiHandler, defineRoute, type ApiRoute, type ApiServer, type ApiServerOptions, type RequestContext } from './server.js';
export { ApiClient, DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS, connectError, type ApiClientOptions } from './client.js';
export { ApiError, ApiClientError, ApiSocketError, type ApiClientErrorKind } from './errors.js';
export { prepareSocketPath, socketAnswers } from './socket.js';
export { API_LIMITS, METRICS_LIMITS, type HttpLimits } from './http-limits.js';
export { endpointRoutes, findEndpoint, inspectOf, ReconcileRequestSchema, type EndpointApiHandlers } from './endpoints.js';
export type * from './types.js';
