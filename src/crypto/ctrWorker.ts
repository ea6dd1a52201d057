import { Worker } from 'node:worker_threads';
import { counterBlock, ctrAtInPlace } from './ctr.js';
import type { DataKey } from './types.js';
import { CTR_IN_PLACE_SLICE, CTR_WORKER_COLLECT_AFTER } from '../tuning.js';

/**
 * AES-256-CTR on a worker thread, so a sequential read's decryption runs on the second core while
 * the calling thread serves FUSE and HTTP: one JavaScript thread bounds the whole read path, and
 * the second core is the way past it (docs/performance.md has the figures).
 *
 * The bytes are shared (a SharedArrayBuffer, as the block cache allocates) or transferred, never
 * copied between threads, and decrypted in place: the buffer that comes back is the one sent.
 * Shared is cheaper for the calling thread: V8 counts a transferred ArrayBuffer coming back as new
 * memory, and at a megabyte a block that made it collect every ~12 MiB read. The worker allocates
 * no buffer of its own, so every block's memory is the caller's to account for (the block cache's
 * budget), and none is freed on one thread into another thread's malloc arena, where glibc keeps
 * it resident.
 *
 * The worker's code is inline (no file to resolve): it runs the same from dist/ and from the
 * TypeScript sources under vitest. It only ever sees key, counter and bytes; it logs nothing.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv } = require('node:crypto');
// Slices as ctrAtInPlace's (tuning.ts CTR_IN_PLACE_SLICE), and a minor collection every
// workerData.collectAfter bytes decrypted (tuning.ts CTR_WORKER_COLLECT_AFTER says why).
// (--expose-gc is a V8 flag for the whole process and 'gc' appears in every context made while
// it is on: it is on just long enough to make one. The name is not 'gc', which a process run with
// --expose-gc already has as a global, and a script declaring it again would fail to load.)
const { slice, collectAfter } = workerData;
const v8 = require('node:v8');
v8.setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
v8.setFlagsFromString('--no-expose-gc');
let sinceGc = 0;
parentPort.on('message', (m) => {
  try {
    const data = Buffer.from(m.data, m.offset, m.length);
    const cipher = createCipheriv('aes-256-ctr', m.key, m.counter);
    if (m.skip > 0) cipher.update(Buffer.alloc(m.skip));
    for (let at = 0; at < m.length; at += slice) data.set(cipher.update(data.subarray(at, at + slice)), at);
    if (m.shared) parentPort.postMessage({ id: m.id });
    else parentPort.postMessage({ id: m.id, data: m.data }, [m.data]);
    sinceGc += m.length;
    if (sinceGc >= collectAfter) {
      sinceGc = 0;
      collect({ type: 'minor' });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  /** With the output's memory, or undefined when it was shared (the input itself). */
  resolve(output: Buffer | undefined): void;
  reject(err: Error): void;
}

class CtrWorker {
  private worker: Worker | undefined;
  /** Whether the worker's thread is running (a new one takes 50-300 ms to start on a busy host). */
  private online = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /**
   * Decrypts `data` in place. Over a SharedArrayBuffer the worker works on the same memory and
   * `data` stays usable; otherwise `data` must own its whole ArrayBuffer, which is detached by this
   * call and comes back decrypted.
   *
   * Shared memory is decrypted right here while the worker is still starting: the first blocks of
   * a cold read would otherwise wait for the thread to start, far longer than they take to decrypt.
   */
  ctrAt(dataKey: DataKey, offset: number, data: Buffer): Promise<Buffer> {
    const shared = data.buffer instanceof SharedArrayBuffer;
    if (!shared && (data.byteOffset !== 0 || data.buffer.byteLength !== data.length)) {
      throw new RangeError('ctrAt in a worker needs shared memory or a buffer that owns its whole ArrayBuffer');
    }
    const worker = this.started();
    if (shared && !this.online) {
      try {
        return Promise.resolve(ctrAtInPlace(dataKey, offset, data));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    const id = this.nextId++;
    const message = {
      id,
      key: dataKey.key,
      counter: counterBlock(dataKey.iv, Math.floor(offset / 16)),
      skip: offset % 16,
      shared,
      offset: data.byteOffset,
      length: data.length,
      data: data.buffer,
    };
    const done = new Promise<Buffer>((resolve, reject) => this.pending.set(id, { resolve: (out) => resolve(out ?? data), reject }));
    if (this.pending.size === 1) worker.ref();
    worker.postMessage(message, shared ? [] : [data.buffer as ArrayBuffer]);
    return done;
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slice: CTR_IN_PLACE_SLICE, collectAfter: CTR_WORKER_COLLECT_AFTER } });
    worker.once('online', () => void (this.online = this.worker === worker));
    worker.on('message', (m: { id: number; data?: ArrayBuffer; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error !== undefined) p?.reject(new Error(`decrypt worker: ${m.error}`));
      else p?.resolve(m.data && Buffer.from(m.data));
    });
    const fail = (err: Error): void => {
      if (this.worker === worker) {
        this.worker = undefined;
        this.online = false;
      }
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

/** `ctrAt` on the shared worker thread, in place (see CtrWorker.ctrAt for what happens to `data`). */
export function ctrAtInWorker(dataKey: DataKey, offset: number, data: Buffer): Promise<Buffer> {
  return shared.ctrAt(dataKey, offset, data);
}
