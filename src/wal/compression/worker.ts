/**
 * Worker thread of CompressionPool: runs one file compression or decompression at a time and
 * answers with the byte counts or the error.
 */
import { parentPort } from 'node:worker_threads';
import { compressFile, decompressFile } from './files.js';
import { serializeError, type WorkerReply, type WorkerTask } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('worker.js must run as a worker thread of CompressionPool');

async function run(task: WorkerTask): Promise<WorkerReply> {
  try {
    const sizes =
      task.operation === 'compress'
        ? await compressFile(task.name, task.source, task.destination, { level: task.level })
        : await decompressFile(task.name, task.source, task.destination);
    return { id: task.id, ok: true, sizes };
  } catch (error) {
    return { id: task.id, ok: false, error: serializeError(error) };
  }
}

port.on('message', (task: WorkerTask) => {
  void run(task).then((reply) => port.postMessage(reply));
});
