/** Bundle entry of `barman-wal-archive` (see scripts/bundle.mjs). */
export { walArchiveMain as run } from './wal-archive-client.js';
