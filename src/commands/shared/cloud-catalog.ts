/**
 * Kept only for commands/recover/run.ts (another branch of issue 12 owns it): the catalogue is
 * one (backup-catalog.ts, catalog/store.ts), for Barman's posix layout and barman-cloud's object
 * layout alike. Remove this file once nothing imports it.
 */
export { hasCloudCatalog } from './backup-catalog.js';
