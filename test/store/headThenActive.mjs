// Child process of transport.test.ts: three HEADs at once through a store, then the kinds of
// resource holding the event loop while they are in flight and once they are answered.
//   node headThenActive.mjs OPTIONS_JSON
const { createOssStore } = await import(new URL('../../dist/store/ossStore.js', import.meta.url).href);
const options = JSON.parse(process.argv[2]);
const store = createOssStore(options);
const asked = Promise.all(['k1', 'k2', 'k3'].map((key) => store.head(key)));
await new Promise((resolve) => setImmediate(resolve));
const busy = process.getActiveResourcesInfo();
const sizes = (await asked).map((head) => head.size);
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify({ sizes, busy, idle: process.getActiveResourcesInfo() }));
