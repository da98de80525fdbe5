/**
 * The verifying child of bench/verify-backup.ts: `node verify-backup-child.js ROOT BACKUP_ID
 * [THREADS]` verifies the plain backup ROOT/BACKUP_ID with the native verifier (THREADS checksum
 * threads; verify-backup's own choice when absent) and exits 1 naming the first problems. A file of its own that
 * imports only src/: the test harness the bench needs takes about 0.4 s to load, which is not
 * verify-backup's time and was counted in it.
 */
import { backupContent } from '../src/catalog/backup-content.js';
import { verifyBackupContent } from '../src/catalog/verify-backup.js';
import { VERIFY_CONCURRENCY } from '../src/commands/shared/stored-backup.js';
import { backupLayoutFor } from '../src/recovery/layout.js';
import { PosixStorage } from '../src/storage/index.js';

const [root, backupId, threads] = process.argv.slice(2);
const storage = new PosixStorage(root!);
const content = await backupContent(storage, backupLayoutFor({ kind: 'posix', path: root! }), backupId!, []);
const outcome = await verifyBackupContent(storage, content, {
  concurrency: VERIFY_CONCURRENCY,
  ...(threads === undefined ? {} : { threads: Number(threads) }),
});
if (outcome.problems.length > 0) {
  console.error(outcome.problems.slice(0, 5).join('\n'));
  process.exitCode = 1;
}
