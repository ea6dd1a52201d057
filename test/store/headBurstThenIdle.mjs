// Child process of headWorker.test.ts: a burst of HEADs through a store with headsOnWorker, then
// 6 s idle; prints the process's thread count before, during and after. Must end on its own.
//   node headBurstThenIdle.mjs OPTIONS_JSON KEYS_JSON
import { readdirSync } from 'node:fs';

const { createOssStore } = await import(new URL('../../dist/store/ossStore.js', import.meta.url).href);
const [options, keys] = process.argv.slice(2).map((arg) => JSON.parse(arg));
const threads = () => readdirSync('/proc/self/task').length;
const store = createOssStore({ ...options, headsOnWorker: true });
const start = threads();
const heads = await Promise.all(keys.map((key) => store.head(key)));
const busy = threads();
await new Promise((resolve) => setTimeout(resolve, 6000));
console.log(JSON.stringify({ heads: heads.length, start, busy, idle: threads() }));
