/**
 * Hook scripts: HookRunner runs the pre/post `<family>_script` and `<family>_retry_script`
 * options with the BARMAN_* environment; the env builders give each family its variables.
 */
export type { HookFamily, HookOptionKey, HookPhase, HookRunnerDeps } from './runner.js';
export {
  ATTEMPTS_BEFORE_NAP,
  DEFAULT_RETRY_SLEEP_MS,
  HOOK_EXIT,
  HookAbortError,
  HookRunner,
  isHookAbort,
} from './runner.js';
export type { BackupHookInfo, RecoveryHookInfo, WalHookInfo } from './env.js';
export {
  archiveHookEnv,
  backupHookEnv,
  backupHookInfo,
  deleteHookEnv,
  pythonFloat,
  pythonJson,
  recoveryHookEnv,
  walDeleteHookEnv,
  walHookEnv,
} from './env.js';
export { archiveHooks } from './archive.js';
export { withWalDeleteHooks } from './wal-delete.js';
