/**
 * zstd frames: compression by the zstd library compiled to WebAssembly (`@hpcc-js/wasm-zstd`,
 * one ZSTD_CCtx per stream so that concurrent streams in one thread do not mix), decompression
 * by the pure-JavaScript `fzstd` streaming decoder (concatenated and skippable frames included).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';
import { CompressionError } from './types.js';

/** The per-stream object of the WebAssembly module (a C++ class holding a ZSTD_CCtx). */
interface ZstdStreamHandle {
  reset(): void;
  setCompressionLevel(level: number): void;
  compressChunk(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  compressEnd(dst: number, dstCapacity: number): number;
  delete(): void;
}

interface ZstdModuleClass {
  new (): ZstdStreamHandle;
  malloc(size: number): number;
  free(pointer: number): void;
  compressBound(size: number): number;
  CStreamOutSize(): number;
  isError(code: number): number;
  getErrorName(code: number): string;
}

interface Engine {
  cls: ZstdModuleClass;
  heap(): Uint8Array;
}

/**
 * The package's public API keeps a single streaming context per thread; barman-ts needs one per
 * stream, so it reaches the module's class and heap the wrapper is built on. The version is
 * pinned in package.json, and a changed layout fails here with a clear message.
 */
let engine: Promise<Engine> | undefined;

function loadEngine(): Promise<Engine> {
  // Imported on first use: the module (a quarter of a megabyte of JavaScript and WebAssembly)
  // would otherwise be parsed by every command that can compress, whatever it compresses with.
  engine ??= import('@hpcc-js/wasm-zstd').then(async ({ Zstd }) => {
    const zstd = await Zstd.load();
    const internals = zstd as unknown as {
      _zstdClass?: ZstdModuleClass;
      _mainModule?: { _module?: { HEAPU8?: Uint8Array } };
    };
    const cls = internals._zstdClass;
    const module = internals._mainModule?._module;
    if (typeof cls !== 'function' || typeof cls.malloc !== 'function' || !module?.HEAPU8) {
      throw new CompressionError('zstd: unsupported @hpcc-js/wasm-zstd version (internal layout changed)');
    }
    return { cls, heap: () => module.HEAPU8! };
  });
  return engine;
}

/** Input is fed to the WebAssembly heap in slices of at most this size. */
const MAX_SLICE = 1 << 20;

export class ZstdCompressStream extends Transform {
  private handle: ZstdStreamHandle | null = null;
  private engine: Engine | null = null;

  constructor(private readonly level: number) {
    super({ readableHighWaterMark: 1 << 20 });
  }

  private async ready(): Promise<{ engine: Engine; handle: ZstdStreamHandle }> {
    if (!this.engine || !this.handle) {
      this.engine = await loadEngine();
      const handle = new this.engine.cls();
      handle.reset();
      handle.setCompressionLevel(this.level);
      this.handle = handle;
    }
    return { engine: this.engine, handle: this.handle };
  }

  private run(
    { engine, handle }: { engine: Engine; handle: ZstdStreamHandle },
    input: Uint8Array | null,
  ): Buffer {
    const { cls } = engine;
    const inputLength = input?.length ?? 0;
    const capacity = input ? cls.compressBound(inputLength) + cls.CStreamOutSize() : 4 * cls.CStreamOutSize();
    const source = input ? cls.malloc(Math.max(1, inputLength)) : 0;
    const target = cls.malloc(capacity);
    try {
      if ((input && source === 0) || target === 0) throw new CompressionError('zstd: out of memory');
      if (input) engine.heap().set(input, source);
      const written = input
        ? handle.compressChunk(target, capacity, source, inputLength)
        : handle.compressEnd(target, capacity);
      if (cls.isError(written)) throw new CompressionError(`zstd: ${cls.getErrorName(written)}`);
      return Buffer.from(engine.heap().subarray(target, target + written));
    } finally {
      if (source) cls.free(source);
      cls.free(target);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.ready().then(
      (context) => {
        try {
          for (let i = 0; i < chunk.length; i += MAX_SLICE) {
            const out = this.run(context, chunk.subarray(i, i + MAX_SLICE));
            if (out.length > 0) this.push(out);
          }
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      (error: Error) => callback(error),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.ready().then(
      (context) => {
        try {
          this.push(this.run(context, null));
          this.release();
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.release();
    callback(error);
  }

  private release(): void {
    this.handle?.delete();
    this.handle = null;
  }
}

export class ZstdDecompressStream extends Transform {
  private readonly decoder: Decompress;

  constructor() {
    super({ readableHighWaterMark: 1 << 20 });
    this.decoder = new Decompress((data) => {
      if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  private feed(chunk: Uint8Array, final: boolean, callback: TransformCallback): void {
    try {
      this.decoder.push(chunk, final);
      callback();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      callback(
        new CompressionError(`zstd: ${final ? 'truncated or corrupt' : 'corrupt'} input (${message})`),
      );
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.feed(chunk, false, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.feed(new Uint8Array(0), true, callback);
  }
}
