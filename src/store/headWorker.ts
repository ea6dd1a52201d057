import { Worker } from 'node:worker_threads';
import { FsError, type Errno } from '../errors.js';
import type { ObjectHead } from './ObjectStore.js';
import { type CredentialSource, RefreshingCredentials } from './credentials.js';
import type { OssStoreOptions } from './ossStore.js';
import { HEAD_WORKER_BURST, HEAD_WORKER_IDLE_EXIT_MS, HEAD_WORKER_REST_MS } from '../tuning.js';


/** What the worker's store is made from: the calling store's options, all of them data. */
export type WorkerOptions = Omit<OssStoreOptions, 'log' | 'credentials'> & { credentialSource?: CredentialSource };

/** One HEAD asked of the worker, and what it sends back. */
export interface Ask {
  id: number;
  key: string;
}
export type Reply = { id: number; head: ObjectHead } | { id: number; errno: Errno; message: string };

/**
 * Sends what is added in one turn of the event loop as one message: a message each way per HEAD
 * cost more CPU than moving the HEAD off the thread saved.
 */
export function batched<T>(send: (items: T[]) => void): (item: T) => void {
  const items: T[] = [];
  return (item) => {
    if (items.push(item) === 1) setImmediate(() => send(items.splice(0)));
  };
}

interface Pending {
  key: string;
  resolve(head: ObjectHead): void;
  reject(err: Error): void;
}

/** A running worker and the way to ask it. */
interface Live {
  worker: Worker;
  ask(a: Ask): void;
}

/**
 * HEAD requests made by a store of its own on a worker thread, for bursts of them. A cold `ls -l`
 * of a big directory is a HEAD per name, and Node's HTTP client costs ~0.2 ms of CPU per HEAD: on
 * the mount's main thread, which also answers every FUSE request, a listing would wait for one
 * core while the other is half idle.
 *
 * A lone HEAD stays on the calling thread (`takes`): a hop to the worker and back adds latency,
 * and the worker exits when idle, so a mount doing big copies does not carry its memory.
 *
 * The worker's store is built from the same options, so it signs, retries and maps errors as the
 * calling thread's does; an error comes back as the FsError (errno and message) it threw. Asks and
 * answers travel in batches (see `batched`). A worker that dies (or cannot start) costs nothing
 * but speed: what it had pending is asked again on the calling thread (`here`), as is every HEAD
 * for a while after.
 */
export class HeadWorker {
  private live: Live | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private restUntil = 0;

  constructor(
    private readonly options: OssStoreOptions,
    private readonly here: (key: string) => Promise<ObjectHead>,
  ) {}

  /** Whether the next HEAD should go here, given how many the calling thread has in flight. */
  takes(inFlightHere: number): boolean {
    if (Date.now() < this.restUntil) return false;
    return this.pending.size > 0 || inFlightHere >= HEAD_WORKER_BURST;
  }

  head(key: string): Promise<ObjectHead> {
    const live = this.started();
    const id = this.nextId++;
    const done = new Promise<ObjectHead>((resolve, reject) => this.pending.set(id, { key, resolve, reject }));
    if (this.pending.size === 1) {
      clearTimeout(this.idleTimer);
      live.worker.ref();
    }
    live.ask({ id, key });
    return done;
  }

  private started(): Live {
    if (this.live) return this.live;
    // None of the process's node flags: it needs none, and some (--input-type) stop it loading a file.
    // A logger is functions, which cannot cross to a worker: the worker's HEADs retry unheard.
    // A credential provider is functions too: the worker makes its own from the same source.
    const { log: _unsendable, credentials, ...options } = this.options;
    const data: WorkerOptions = { ...options, ...(credentials instanceof RefreshingCredentials ? { credentialSource: credentials.source } : {}) };
    const worker = new Worker(new URL('./headWorkerMain.js', import.meta.url), { workerData: data, execArgv: [] });
    const live: Live = { worker, ask: batched((asks: Ask[]) => worker.postMessage(asks)) };
    worker.on('message', (replies: Reply[]) => {
      for (const m of replies) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if ('head' in m) p?.resolve(m.head);
        else p?.reject(new FsError(m.errno, m.message));
      }
      if (this.pending.size === 0) this.idle(live);
    });
    const fail = (): void => {
      if (this.live !== live) return;
      this.live = undefined;
      this.restUntil = Date.now() + HEAD_WORKER_REST_MS;
      clearTimeout(this.idleTimer);
      for (const p of this.pending.values()) this.here(p.key).then(p.resolve, p.reject);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    this.live = live;
    return live;
  }

  /** Nothing pending: the worker must not keep the process alive, and exits unless used again soon. */
  private idle(live: Live): void {
    live.worker.unref();
    this.idleTimer = setTimeout(() => {
      if (this.live !== live || this.pending.size > 0) return;
      this.live = undefined;
      void live.worker.terminate();
    }, HEAD_WORKER_IDLE_EXIT_MS).unref();
  }
}
