/** Bundle entry of `barman-wal-restore` (see scripts/bundle.mjs). */
export { walRestoreMain as run } from './wal-restore-client.js';
