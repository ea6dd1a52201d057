import { parentPort, workerData } from 'node:worker_threads';
import { toFsError } from '../errors.js';
import { type Ask, batched, type Reply, type WorkerOptions } from './headWorker.js';
import { RefreshingCredentials } from './credentials.js';
import { createOssStore } from './ossStore.js';

/** The worker side of HeadWorker: HEADs with a store of its own, built from the calling one's options. */
const port = parentPort!;
const { credentialSource, ...options } = workerData as WorkerOptions;
const store = createOssStore({ ...options, ...(credentialSource ? { credentials: RefreshingCredentials.from(credentialSource) } : {}), headsOnWorker: false });
const reply = batched((replies: Reply[]) => port.postMessage(replies));
port.on('message', (asks: Ask[]) => {
  for (const { id, key } of asks) {
    store.head(key).then(
      (head) => reply({ id, head }),
      (err: unknown) => {
        const e = toFsError(err);
        reply({ id, errno: e.errno, message: e.message });
      },
    );
  }
});
