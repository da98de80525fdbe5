/**
 * The recovered cluster's configuration: each configuration file kept as `.origin` and rewritten
 * with dangerous settings disabled (archive_command, among others, so that the copy never archives
 * into production), the recovery settings appended (or recovery.conf before PostgreSQL 12), the
 * signal file, and the backup's backup.info kept as .barman-recover.info, as Barman does.
 */
import { join } from 'node:path';
import type { RecoveryDestination } from './destination.js';
import type { RecoveryPlan } from './plan.js';
import { appendSettings, disableDangerousSettings } from './settings.js';

/** "file line N: setting" lines: changed to prevent data loss, and to be reviewed by the DBA. */
export interface ConfigurationChanges {
  modified: string[];
  review: string[];
}

export async function rewriteConfiguration(
  plan: RecoveryPlan,
  destination: RecoveryDestination,
  backupInfoText: string,
  result: ConfigurationChanges,
): Promise<void> {
  const standard = plan.version >= 90400 ? ['postgresql.conf', 'postgresql.auto.conf'] : ['postgresql.conf'];
  // --recovery-conf-filename: that file is checked and kept as .origin like the others.
  const names =
    plan.version >= 120000 && !standard.includes(plan.settings.file)
      ? [...standard, plan.settings.file]
      : standard;
  const originals = await destination.readFiles(names.map((name) => join(plan.destination, name)));
  const writes: Array<{ path: string; content: string }> = [
    { path: join(plan.destination, '.barman-recover.info'), content: backupInfoText },
  ];
  const contents = new Map<string, string>();
  let archiveCommandSeen = false;
  for (const [index, name] of names.entries()) {
    const path = join(plan.destination, name);
    // From PostgreSQL 12 the recovery settings go to postgresql.auto.conf: Barman creates it
    // (empty) when the backup has none, so that it has an original too.
    const original = originals[index] ?? (name === plan.settings.file && plan.version >= 120000 ? '' : null);
    if (original === null) continue;
    const edited = disableDangerousSettings(original);
    if (edited.modified.some((line) => line.text === 'archive_command = false')) archiveCommandSeen = true;
    for (const line of edited.modified) result.modified.push(`${name} line ${line.line}: ${line.text}`);
    for (const line of edited.review) result.review.push(`${name} line ${line.line}: ${line.text}`);
    // As Barman, the file as the backup has it is always kept beside the one recovery writes.
    writes.push({ path: `${path}.origin`, content: original }, { path, content: edited.content });
    contents.set(name, edited.content);
  }
  const settingsPath = join(plan.destination, plan.settings.file);
  const disableArchiving = !archiveCommandSeen && plan.version >= 90400;
  if (disableArchiving) {
    // The configuration may live outside PGDATA (Debian): make sure the copy never archives
    // into the production archive, whatever file it is started with.
    const where = plan.settings.file === 'recovery.conf' ? 'postgresql.auto.conf' : plan.settings.file;
    result.modified.push(`${where}: archive_command = false (added)`);
  }
  const header = `Recovery settings written by barman-ts for backup ${plan.backupId}`;
  if (plan.settings.file === 'recovery.conf') {
    if (plan.settings.lines.length > 0)
      writes.push({ path: settingsPath, content: `${plan.settings.lines.join('\n')}\n` });
    if (disableArchiving) {
      const auto = join(plan.destination, 'postgresql.auto.conf');
      writes.push({
        path: auto,
        content: appendSettings(contents.get('postgresql.auto.conf') ?? '', header, [
          'archive_command = false',
        ]),
      });
    }
  } else {
    const lines = [...(disableArchiving ? ['archive_command = false'] : []), ...plan.settings.lines];
    if (lines.length > 0) {
      // The last write of a path wins: replace an edited postgresql.auto.conf rather than writing it twice.
      const current = contents.get(plan.settings.file) ?? '';
      const kept = writes.filter((write) => write.path !== settingsPath);
      writes.length = 0;
      writes.push(...kept, { path: settingsPath, content: appendSettings(current, header, lines) });
    }
  }
  if (plan.settings.signal) writes.push({ path: join(plan.destination, plan.settings.signal), content: '' });
  await destination.writeFiles(writes);
}
