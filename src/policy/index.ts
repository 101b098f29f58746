/** The agent's zone-policy glue (the policy library itself is policy/). */
export { AgentPolicy, disabledPolicyView, PolicyLookupError, findContainer, modelOf, type AgentPolicyOptions, type NamedEndpoint, type PolicyEndpoint } from './agent-policy.js';
export { fabricPeers, hostAddresses, hostPolicy, protectedPorts } from './host.js';
export { policyHandlers } from './api.js';
export { reloadVerdict, runningEndpoints, type ListedEndpoint } from './reload.js';
