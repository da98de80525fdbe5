/**
 * Worker thread of CompressionPool: runs one file compression or decompression at a time and
 * answers with the byte counts or the error.
 */
import { parentPort } from 'node:worker_threads';
import { compressFile, compressFileToBuffer, decompressFile } from './files.js';
import { serializeError, type WorkerResult, type WorkerTask } from './protocol.js';

const port = parentPort;
/** This thread's read buffer for whole files (one task at a time runs here). */
const scratch = { buffer: Buffer.alloc(0) };
if (!port) throw new Error('worker.js must run as a worker thread of CompressionPool');

async function run(task: WorkerTask): Promise<WorkerResult> {
  try {
    if (task.operation === 'digest') throw new Error('checksums run on catalog/digest-worker.js');
    if (task.operation === 'compress-to-buffer') {
      const { data, bytesIn } = await compressFileToBuffer(
        task.name,
        task.source,
        { level: task.level },
        scratch,
      );
      // Transferred, not copied: a buffer that does not own its whole ArrayBuffer (a slice of
      // Node's shared pool) is copied into one that does first.
      const owned =
        data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? (data.buffer as ArrayBuffer)
          : new Uint8Array(data).buffer;
      return { id: task.id, ok: true, sizes: { bytesIn, bytesOut: data.length }, data: owned };
    }
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
  void run(task).then((reply) => port.postMessage(reply, reply.ok && reply.data ? [reply.data] : []));
});
