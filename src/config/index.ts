/**
 * agent.yaml: load and validate (load.ts), the schema and its types (schema.ts), the
 * canonical form (format.ts), the import prefix list (import-filter.ts).
 */
export { loadConfig, loadConfigWithWarnings, parseConfig, parseConfigWithWarnings, MAX_CONFIG_BYTES, type LoadedConfig, type ParseOptions } from './load.js';
export { configWarnings, type ConfigWarning } from './warnings.js';
export { formatConfig } from './format.js';
export { ConfigError, formatWarning, type ConfigProblem } from './errors.js';
export { compileImportFilter, parseImportRule, type ImportRule } from './import-filter.js';
export { DEFAULTS, FAMILIES, type Config, type ConfigFamily, type PeerConfig, type PoolConfig, type ZoneConfig } from './schema.js';
