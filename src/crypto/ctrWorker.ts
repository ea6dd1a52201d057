import { Worker } from 'node:worker_threads';
import { counterBlock } from './ctr.js';
import type { DataKey } from './types.js';
import { takeSpareBuffer } from '../util/bufferPool.js';

/**
 * AES-256-CTR on a worker thread, so a sequential read's decryption runs on the second core while
 * the calling thread serves FUSE and HTTP (ARCHITECTURE.md: one JS thread tops out near 0.5 GB/s
 * for the whole read path; the second core is the way past it).
 *
 * Buffers are transferred, never copied between threads, and none is fresh on the calling thread:
 * the input comes back for the next request, and the output is a recycled buffer
 * (util/bufferPool.ts) when there is one, else allocated by the worker — the page faults of
 * fresh memory (as costly as the cipher here) are then the worker's, on its own core.
 *
 * The worker's code is inline (no file to resolve): it runs the same from dist/ and from the
 * TypeScript sources under vitest. It only ever sees key, counter and bytes; it logs nothing.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createCipheriv } = require('node:crypto');
// OpenSSL's CTR is fastest on slices that stay in cache; 64 KiB outputs also stay below the
// size the C allocator maps (and unmaps) fresh for every request.
const SLICE = 64 * 1024;
parentPort.on('message', (m) => {
  try {
    const input = Buffer.from(m.input, 0, m.length);
    const output = m.output ? Buffer.from(m.output, 0, m.length) : Buffer.allocUnsafeSlow(m.length);
    const cipher = createCipheriv('aes-256-ctr', m.key, m.counter);
    if (m.skip > 0) cipher.update(Buffer.alloc(m.skip));
    for (let at = 0; at < m.length; at += SLICE) output.set(cipher.update(input.subarray(at, at + SLICE)), at);
    parentPort.postMessage({ id: m.id, input: m.input, output: output.buffer }, [m.input, output.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, input: m.input, error: String((err && err.message) || err) }, [m.input]);
  }
});
`;

/** Input buffers kept for reuse: a read-ahead run's worth in flight. */
const MAX_INPUTS = 16;

interface Pending {
  resolve(output: Buffer): void;
  reject(err: Error): void;
}

class CtrWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly inputs: ArrayBuffer[] = [];

  /** A buffer to fill with ciphertext for `ctrAt`: one an earlier call handed back, when one fits. */
  input(size: number): Buffer {
    const i = this.inputs.findIndex((b) => b.byteLength === size);
    return i < 0 ? Buffer.allocUnsafeSlow(size) : Buffer.from(this.inputs.splice(i, 1)[0]!);
  }

  /** `input` must come from `input()`; it is detached by this call. The result owns its memory. */
  ctrAt(dataKey: DataKey, offset: number, input: Buffer): Promise<Buffer> {
    if (input.byteOffset !== 0 || input.buffer.byteLength !== input.length) {
      throw new RangeError('ctrAt in a worker needs an input from input()');
    }
    const worker = this.started();
    const id = this.nextId++;
    const output = takeSpareBuffer(input.length);
    const message = {
      id,
      key: dataKey.key,
      counter: counterBlock(dataKey.iv, Math.floor(offset / 16)),
      skip: offset % 16,
      length: input.length,
      input: input.buffer,
      output: output?.buffer,
    };
    const done = new Promise<Buffer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) worker.ref();
    worker.postMessage(message, output ? [input.buffer as ArrayBuffer, output.buffer as ArrayBuffer] : [input.buffer as ArrayBuffer]);
    return done;
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (m: { id: number; input: ArrayBuffer; output?: ArrayBuffer; error?: string }) => {
      if (this.inputs.length < MAX_INPUTS) this.inputs.push(m.input);
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.output) p?.resolve(Buffer.from(m.output));
      else p?.reject(new Error(`decrypt worker: ${m.error ?? 'no output'}`));
    });
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`decrypt worker exited (${code})`)));
    // Idle, it must not keep the process alive; busy, it must (a pending read is work to finish).
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

const shared = new CtrWorker();

/** A buffer of `size` bytes to fill with ciphertext and pass to `ctrAtInWorker`. */
export function workerInput(size: number): Buffer {
  return shared.input(size);
}

/** `ctrAt` on the shared worker thread. `input` (from `workerInput`) is detached by the call. */
export function ctrAtInWorker(dataKey: DataKey, offset: number, input: Buffer): Promise<Buffer> {
  return shared.ctrAt(dataKey, offset, input);
}
