import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { Collector } from '../../util/collector.js';
import { Crc64 } from './crc64.js';
import { SERVER_MD5_BATCH, SERVER_MD5_COLLECT_AFTER, SERVER_MD5_IN_FLIGHT, SERVER_MD5_PARALLEL_FROM } from '../../tuning.js';

/** MD5 (for the ETag and Content-MD5) and CRC64 (x-oss-hash-crc64ecma) of a body, fed chunk by chunk. */
export interface BodyHasher {
  /**
   * Hashes `chunk` and takes it: the caller must not use it afterwards (it may go to a worker
   * thread, which leaves it detached here). May return a promise: wait for it before feeding more
   * (back-pressure).
   */
  update(chunk: Buffer): void | Promise<void>;
  digest(): Promise<{ md5: Buffer; crc64: string }>;
  /** The body failed: release what the hasher holds. */
  abandon(): void;
}

// MD5 (serial, the slowest step of a PUT) runs on a worker thread from SERVER_MD5_PARALLEL_FROM;
// CRC64 (liblzma, several times faster) always stays here.

class InlineHasher implements BodyHasher {
  private readonly md5 = createHash('md5');
  private readonly crc = new Crc64();

  update(chunk: Buffer): void {
    this.md5.update(chunk);
    this.crc.update(chunk);
  }

  async digest(): Promise<{ md5: Buffer; crc64: string }> {
    return { md5: this.md5.digest(), crc64: this.crc.digest() };
  }

  abandon(): void {}
}

// Runs in the worker (eval'd as CommonJS: see the Worker's execArgv). Messages: {id, chunks} hashes
// the chunks (ArrayBuffers, transferred) into body `id` and hands them back as its ack; {id, done}
// answers the digest and forgets the body.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', ({ id, chunks, done }) => {
  let hash = hashes.get(id);
  if (!hash) hashes.set(id, (hash = createHash('md5')));
  if (done) {
    hashes.delete(id);
    parentPort.postMessage({ id, md5: hash.digest('hex') });
    return;
  }
  for (const chunk of chunks) hash.update(new Uint8Array(chunk));
  parentPort.postMessage({ id, chunks }, chunks);
});
`;

type Reply = { id: number; chunks: ArrayBuffer[] } | { id: number; md5: string };

/**
 * The MD5 worker, shared by every body. Chunks are transferred, not copied: an HTTP body chunk owns
 * its whole ArrayBuffer (Node copies each one out of the socket's), and copying every byte into
 * shared memory would be a large part of the main thread's work on a PUT. They come back once
 * hashed, to be collected here: the worker, which barely allocates, would otherwise hold the hashed
 * chunks until its own rare collections. A scavenge every SERVER_MD5_COLLECT_AFTER bytes frees them
 * while malloc can hand their memory, still in cache, to the next chunks (docs/performance.md).
 */
class Md5Worker {
  private readonly worker: Worker;
  private readonly digests = new Map<number, (md5: string) => void>();
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly collector = new Collector(SERVER_MD5_COLLECT_AFTER, 'minor');

  constructor() {
    // Workers inherit the parent's flags, and under `node --input-type=module -e …` eval'd code
    // would be an ES module without `require`; the source is CommonJS whatever started the server.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.on('message', (reply: Reply) => {
      if ('md5' in reply) return this.finished(reply.id, reply.md5);
      const bytes = byteLength(reply.chunks);
      this.inFlight -= bytes;
      this.collector.dropped(bytes);
      while (this.inFlight < SERVER_MD5_IN_FLIGHT && this.waiting.length > 0) this.waiting.shift()!();
    });
    this.worker.unref();
  }

  /** Posts chunks of body `id`; resolves once the worker has room for more. */
  hash(id: number, chunks: ArrayBuffer[]): void | Promise<void> {
    this.inFlight += byteLength(chunks);
    this.worker.postMessage({ id, chunks }, chunks);
    if (this.inFlight >= SERVER_MD5_IN_FLIGHT) return new Promise((resolve) => this.waiting.push(resolve));
  }

  digest(id: number): Promise<string> {
    // Referenced only while some body awaits its digest: an idle worker must not keep a process alive.
    if (this.digests.size === 0) this.worker.ref();
    return new Promise((resolve) => {
      this.digests.set(id, resolve);
      this.worker.postMessage({ id, done: true });
    });
  }

  private finished(id: number, md5: string): void {
    this.digests.get(id)?.(md5);
    this.digests.delete(id);
    if (this.digests.size === 0) this.worker.unref();
  }
}

const byteLength = (buffers: ArrayBuffer[]): number => buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);

let worker: Md5Worker | undefined;
let nextId = 0;

/** The chunk's bytes as an ArrayBuffer of their own, to transfer: its own when it has one, else a copy. */
function ownBuffer(chunk: Buffer): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = chunk;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) return buffer;
  return new Uint8Array(chunk).buffer;
}

class ParallelHasher implements BodyHasher {
  private readonly id = nextId++;
  private readonly worker = (worker ??= new Md5Worker());
  private readonly crc = new Crc64();
  private batch: ArrayBuffer[] = [];
  private batched = 0;
  private md5: Promise<string> | undefined;

  update(chunk: Buffer): void | Promise<void> {
    // The body failed meanwhile (abandon): its digest was asked for, so nothing may follow.
    if (this.md5) return;
    this.crc.update(chunk);
    this.batch.push(ownBuffer(chunk));
    this.batched += chunk.length;
    if (this.batched >= SERVER_MD5_BATCH) return this.send();
  }

  async digest(): Promise<{ md5: Buffer; crc64: string }> {
    if (!this.md5) {
      // No need to wait for room: the worker answers the digest after the chunks posted before it.
      void this.send();
      this.md5 = this.worker.digest(this.id);
    }
    return { md5: Buffer.from(await this.md5, 'hex'), crc64: this.crc.digest() };
  }

  abandon(): void {
    void this.digest();
  }

  private send(): void | Promise<void> {
    if (this.batched === 0) return;
    const sent = this.worker.hash(this.id, this.batch);
    this.batch = [];
    this.batched = 0;
    return sent;
  }
}

/** Inline hashing for small or unknown-size bodies, a worker thread for big ones' MD5. */
export function createBodyHasher(expectedSize: number | undefined): BodyHasher {
  return expectedSize !== undefined && expectedSize >= SERVER_MD5_PARALLEL_FROM ? new ParallelHasher() : new InlineHasher();
}
