/**
 * worm_mode on an s3:// location: S3 Object Lock (docs/immutable-storage.md). Every object
 * barman-ts writes there carries a retention (mode and retain-until date) from the moment it is
 * stored, so nobody — barman-ts, an attacker with its keys — can delete that version before the
 * date; in COMPLIANCE mode not even the account's root. Object Lock needs a versioned bucket:
 * a DeleteObject by key would only add a delete marker (always allowed, hiding the object while
 * its data stays), so deletions here remove versions, which S3 refuses while locked. They ask
 * first (`findLockedObjects`, Storage.findImmutable's contract) and refuse whole rather than
 * failing halfway.
 */
import {
  DeleteObjectsCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { BarmanError } from '../../errors/index.js';
import { humanDuration } from '../../output/time.js';
import type { ImmutableEntry, ImmutableProbeOptions } from '../immutable.js';
import type { S3Storage } from './index.js';
import { describeS3Error } from './errors.js';
import type { S3Settings } from './settings.js';

/** HEAD requests in flight at once while probing retention. */
const PROBE_CONCURRENCY = 8;

/** The retention parameters of PutObject, CreateMultipartUpload and CopyObject; {} without worm_mode. */
export function objectLockParameters(
  settings: S3Settings,
  now: number = Date.now(),
): { ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE'; ObjectLockRetainUntilDate?: Date } {
  if (!settings.objectLock) return {};
  return {
    ObjectLockMode: settings.objectLock.mode,
    ObjectLockRetainUntilDate: new Date(now + settings.objectLock.retentionSeconds * 1000),
  };
}

/**
 * After a multipart upload in worm_mode: the new version must carry the retention asked for by
 * CreateMultipartUpload. Some S3-compatible stores drop it there (moto 5.1 does): it is then set
 * on that version, so no object barman-ts wrote stays unlocked, and a store that refuses that
 * too fails the upload, naming the object.
 */
export async function confirmObjectLock(
  storage: S3Storage,
  key: string,
  versionId: string | undefined,
): Promise<void> {
  const lock = storage.settings.objectLock;
  if (!lock) return;
  const what = `lock ${storage.location}/${key}`;
  const head = await send(storage, what, (abortSignal) =>
    storage.client.send(
      new HeadObjectCommand({ Bucket: storage.settings.bucket, Key: key, VersionId: versionId }),
      {
        abortSignal,
      },
    ),
  );
  if (head.ObjectLockMode && head.ObjectLockRetainUntilDate) return;
  const { ObjectLockMode, ObjectLockRetainUntilDate } = objectLockParameters(storage.settings);
  await send(storage, what, (abortSignal) =>
    storage.client.send(
      new PutObjectRetentionCommand({
        Bucket: storage.settings.bucket,
        Key: key,
        VersionId: versionId ?? head.VersionId,
        Retention: { Mode: ObjectLockMode, RetainUntilDate: ObjectLockRetainUntilDate },
      }),
      { abortSignal },
    ),
  );
}

async function send<T>(
  storage: S3Storage,
  what: string,
  work: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  try {
    return await work(storage.signal);
  } catch (error) {
    throw describeS3Error(error, what, storage);
  }
}

interface ObjectVersion {
  key: string;
  versionId: string;
  deleteMarker: boolean;
}

/** Every version and delete marker of the keys starting with `prefix`. */
async function listVersions(storage: S3Storage, prefix: string): Promise<ObjectVersion[]> {
  const { bucket } = storage.settings;
  const found: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await send(storage, `list the object versions of ${storage.location}`, (abortSignal) =>
      storage.client.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
        { abortSignal },
      ),
    );
    for (const version of page.Versions ?? [])
      found.push({ key: version.Key ?? '', versionId: version.VersionId ?? 'null', deleteMarker: false });
    for (const marker of page.DeleteMarkers ?? [])
      found.push({ key: marker.Key ?? '', versionId: marker.VersionId ?? 'null', deleteMarker: true });
    if (!page.IsTruncated) return found;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

/**
 * The versions of what a deletion of `paths` removes: each path's own key and, with `descend`
 * (the default), every key below it. Keys are listed one directory (prefix) at a time.
 */
async function versionsOf(
  storage: S3Storage,
  paths: readonly string[],
  descend: boolean,
): Promise<ObjectVersion[]> {
  const wanted = (key: string, target: string) => key === target || (descend && key.startsWith(`${target}/`));
  const byParent = new Map<string, string[]>();
  for (const path of paths) {
    const key = storage.key(path);
    const parent = descend ? key : key.slice(0, key.lastIndexOf('/') + 1);
    byParent.set(parent, [...(byParent.get(parent) ?? []), key]);
  }
  const found: ObjectVersion[] = [];
  for (const [parent, keys] of byParent) {
    for (const version of await listVersions(storage, parent))
      if (keys.some((key) => wanted(version.key, key))) found.push(version);
  }
  return found;
}

/** Storage.findImmutable: object versions whose retention has not ended, or under a legal hold. */
export async function findLockedObjects(
  storage: S3Storage,
  paths: readonly string[],
  limit: number,
  options: ImmutableProbeOptions = {},
): Promise<ImmutableEntry[]> {
  const versions = (await versionsOf(storage, paths, options.descend !== false)).filter(
    (version) => !version.deleteMarker,
  );
  const prefix = storage.settings.prefix;
  const found: ImmutableEntry[] = [];
  const now = Date.now();
  for (let start = 0; start < versions.length && found.length < limit; start += PROBE_CONCURRENCY) {
    const heads = await Promise.all(
      versions.slice(start, start + PROBE_CONCURRENCY).map(async (version) => ({
        version,
        head: await send(storage, `read the retention of ${storage.location}/${version.key}`, (abortSignal) =>
          storage.client.send(
            new HeadObjectCommand({
              Bucket: storage.settings.bucket,
              Key: version.key,
              VersionId: version.versionId,
            }),
            { abortSignal },
          ),
        ),
      })),
    );
    for (const { version, head } of heads) {
      const path = prefix ? version.key.slice(prefix.length + 1) : version.key;
      const until = head.ObjectLockRetainUntilDate;
      if (until && until.getTime() > now) {
        found.push({
          path,
          reason: `locked by S3 Object Lock (${head.ObjectLockMode ?? 'retention'} mode)`,
          until,
        });
      } else if (head.ObjectLockLegalHoldStatus === 'ON') {
        found.push({ path, reason: 'under an S3 Object Lock legal hold', until: null });
      }
    }
  }
  return found.slice(0, limit);
}

/**
 * Deletes every version (and delete marker) of `keys`, `deleteBatchSize` a request: the data is
 * gone, not hidden behind a delete marker. S3 refuses a locked version: the error names it.
 */
export async function removeObjectVersions(storage: S3Storage, keys: readonly string[]): Promise<void> {
  const prefix = storage.settings.prefix;
  const paths = keys.map((key) => (prefix ? key.slice(prefix.length + 1) : key));
  const versions = await versionsOf(storage, paths, false);
  const { deleteBatchSize, bucket } = storage.settings;
  for (let start = 0; start < versions.length; start += deleteBatchSize) {
    const batch = versions.slice(start, start + deleteBatchSize);
    const response = await send(storage, `delete object versions in ${storage.location}`, (abortSignal) =>
      storage.client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: {
            Objects: batch.map(({ key, versionId }) => ({ Key: key, VersionId: versionId })),
            Quiet: true,
          },
        }),
        { abortSignal },
      ),
    );
    const [failed] = response.Errors ?? [];
    if (failed) {
      throw new BarmanError(
        's3-object-locked',
        `S3 refused to delete ${response.Errors!.length} object version(s) in ${storage.location}, e.g. ${failed.Key ?? '?'}: ` +
          `${failed.Message ?? failed.Code ?? 'no reason given'} (an S3 Object Lock retention or legal hold protects it)`,
      );
    }
  }
}

/** Whether the bucket enforces Object Lock, and its default retention, for `check`. */
export async function objectLockStatus(storage: S3Storage): Promise<{ enforced: boolean; detail: string }> {
  const { bucket } = storage.settings;
  let configuration;
  try {
    configuration = await storage.client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }), {
      abortSignal: storage.signal,
    });
  } catch (error) {
    if ((error as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') {
      return {
        enforced: false,
        detail:
          `bucket '${bucket}' does not have S3 Object Lock enabled: nothing keeps its objects from being deleted; ` +
          'create the bucket with Object Lock enabled (it cannot be turned on for every store later) or set worm_mode = off',
      };
    }
    throw describeS3Error(error, `read the Object Lock configuration of bucket '${bucket}'`, storage);
  }
  const lock = configuration.ObjectLockConfiguration;
  if (lock?.ObjectLockEnabled !== 'Enabled')
    return { enforced: false, detail: `bucket '${bucket}' does not have S3 Object Lock enabled` };
  const rule = lock.Rule?.DefaultRetention;
  const bucketDefault = rule
    ? `default retention ${rule.Mode ?? '?'} ${rule.Days ? `${rule.Days} day(s)` : `${rule.Years ?? '?'} year(s)`}`
    : 'no default retention';
  const own = storage.settings.objectLock;
  const ours = own
    ? `; barman-ts locks each object ${own.mode} for ${humanDuration(own.retentionSeconds)} from its write`
    : '';
  return { enforced: true, detail: `bucket '${bucket}' enforces S3 Object Lock (${bucketDefault})${ours}` };
}
