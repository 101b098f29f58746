/**
 * Container runtimes: where the agent learns which containers want a routed address.
 * Docker (dockerode list + events) lives here; CNI requests arrive through the API.
 */
export { DockerRuntime, DockerRuntimeError, DEFAULT_DOCKER_SOCKET, type DockerClient, type DockerRuntimeOptions } from './docker.js';
export {
  classifyContainer,
  hasRoutectlLabel,
  labelSchema,
  KNOWN_LABELS,
  LABEL_PREFIX,
  ZONE_LABEL,
  IPV4_LABEL,
  IPV6_LABEL,
  ZONE_NAME_RE,
  type Classification,
  type ContainerFacts,
} from './labels.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { JsonLines, parseDockerEvent, FOLLOWED_ACTIONS, type ContainerAction, type ContainerEvent } from './events.js';
export type { WantedEndpoint, InvalidContainer, RemoveReason, SyncDiff, RuntimeStatus, RuntimeEvents } from './types.js';
