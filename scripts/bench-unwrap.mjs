#!/usr/bin/env node
// RSA unwrap time for a good envelope against ones whose key or IV block has bad PKCS#1 padding,
// interleaved so other load on the machine falls on every case alike. A padding oracle would show
// as a bad-padding median well below the good one.
// Build first: `npx tsc -p .`; then `node scripts/bench-unwrap.mjs [tries]`.
import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { rsaMasterKey } from '../dist/crypto/index.js';

const tries = Number(process.argv[2] ?? 2000);
const pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
const key = rsaMasterKey({ privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
const bytes = 384;
const wrapped = await key.wrap({ key: randomBytes(32), iv: randomBytes(16) });
const good = { format: 'v2', wrapAlg: key.wrapAlg, cekAlg: 'AES/CTR/NoPadding', ...wrapped };
// 00 01 … instead of 00 02 …: a block whose padding is wrong from its second byte.
const badBlock = publicEncrypt(
  { key: pair.publicKey, padding: constants.RSA_NO_PADDING },
  Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(bytes - 35, 0xff), Buffer.from([0]), randomBytes(32)]),
).toString('base64');

const cases = {
  'good padding': good,
  'bad key block': { ...good, wrappedKey: badBlock },
  'bad IV block': { ...good, wrappedIv: badBlock },
};
const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let i = 0; i < tries; i++) {
  for (const [name, envelope] of Object.entries(cases)) {
    const started = process.hrtime.bigint();
    await key.unwrap(envelope, 'bench').catch(() => undefined);
    times[name].push(Number(process.hrtime.bigint() - started) / 1000);
  }
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [name, xs] of Object.entries(times)) console.log(`${name.padEnd(14)} median ${median(xs).toFixed(1)} us over ${tries}`);
