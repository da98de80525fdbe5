/**
 * Worker thread of verify-backup's CompressionPool (catalog/verify-backup.ts): reads one file of
 * a plain backup on a local disk at a time, through a PosixStorage, and answers with its digest
 * (file-digest.ts), telling how far it is on long files. It speaks CompressionPool's protocol but
 * loads only what a checksum needs, so each thread starts quickly.
 */
import { parentPort } from 'node:worker_threads';
import {
  serializeError,
  type WorkerReply,
  type WorkerResult,
  type WorkerTask,
} from '../transfer/compression/protocol.js';
import { digestLocalFile } from './file-digest.js';

const port = parentPort;
if (!port) throw new Error('digest-worker.js must run as a worker thread of verify-backup');

async function run(task: WorkerTask): Promise<WorkerResult> {
  try {
    if (task.operation !== 'digest') throw new Error(`digest-worker.js does not ${task.operation}`);
    const digest = await digestLocalFile(task.root, task.path, task, (progress) =>
      port!.postMessage({ id: task.id, progress } satisfies WorkerReply),
    );
    return { id: task.id, ok: true, sizes: { bytesIn: digest.bytes, bytesOut: 0 }, digest };
  } catch (error) {
    return { id: task.id, ok: false, error: serializeError(error) };
  }
}

port.on('message', (task: WorkerTask) => {
  void run(task).then((reply) => port.postMessage(reply));
});
