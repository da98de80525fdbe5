export {
  CLOUD_STAGING_OPTIONS,
  cloudStagingOf,
  S3_MIN_PART_SIZE,
  stagingLimitProblem,
  uploadPartSize,
} from './cloud-staging.js';
export { parseConfigUpdate, parseQueue, serializeQueue, setIniOption } from './changes.js';
export type { ConfigChange, ConfigChangeSet } from './changes.js';
export { AUTO_CONF_NAME, defaultConfigCandidates, findConfigFile, loadConfig } from './load.js';
export { ACTIVE_MODEL_FILE, activeModelFile, modelOverrides, modelRefusal } from './models.js';
export type { LoadOptions } from './load.js';
export { OPTIONS, OPTION_LIST, findOption, optionFlagsFor } from './options.js';
export type { OptionKey } from './options.js';
export type { OptionCategory, OptionFlag, OptionScope, OptionSpec } from './option-spec.js';
export { formatProblem } from './problems.js';
export type { ConfigProblem } from './problems.js';
export type {
  BarmanConfig,
  GlobalConfig,
  ModelEntry,
  ServerConfig,
  ServerEntry,
  ValueSource,
} from './types.js';
export { formatGfsPolicy, formatInterval, formatLocation, formatRetentionPolicy } from './value-kinds.js';
export type { GfsPolicy, Interval, Location, RetentionPolicy } from './value-kinds.js';
