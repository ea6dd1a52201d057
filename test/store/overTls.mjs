// Child process of https.test.ts (NODE_EXTRA_CA_CERTS is read only at start): one store call of
// each kind through an https endpoint; prints what each gave, or the errno and message it failed with.
//   node overTls.mjs OPTIONS_JSON
const { createOssStore } = await import(new URL('../../dist/store/ossStore.js', import.meta.url).href);
const options = JSON.parse(process.argv[2]);
const store = createOssStore({ ...options, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 5, totalMs: 2000 } });
const readAll = async (body) => {
  const chunks = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
};
const calls = {
  put: async () => (await store.put('tls/a', Buffer.from('over tls'), { meta: { n: '1' } })).etag.length,
  head: async () => (await store.head('tls/a')).meta.n,
  get: async () => readAll((await store.get('tls/a', { range: { start: 5 } })).body),
  list: async () => (await store.list('tls/')).objects.map((o) => o.key),
  copy: async () => (await store.copy('tls/a', 'tls/b')).etag.length,
  headCopy: async () => (await store.head('tls/b')).size,
  delete: async () => {
    await store.delete('tls/b');
    await store.delete('tls/a');
    return (await store.list('tls/')).objects.length;
  },
};
const results = {};
for (const [name, call] of Object.entries(calls)) {
  try {
    results[name] = await call();
  } catch (err) {
    results[name] = { errno: err.errno, message: err.message };
  }
}
console.log(JSON.stringify(results));
