// A directory's index: what is written reads back, and anything else at its key is refused, never used.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { FsError } from '../../src/errors.js';
import { ANSWER_SLACK_S, DirectoryIndexes, EncryptedBucket, encodePosixMeta, indexed } from '../../src/secure/index.js';
import { startHarness, type Harness } from '../store/harness.js';

const KEYS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa/keys', import.meta.url));

const errnoOf = (p: Promise<unknown>): Promise<string> => p.then(
  () => 'ok',
  (err: unknown) => (err instanceof FsError ? err.errno : String(err)),
);

describe('directory indexes', () => {
  let h: Harness;
  let bucket: EncryptedBucket;
  let indexes: DirectoryIndexes;
  const keyring = (file: string): Keyring => new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(join(KEYS, file), 'utf8') }) });

  beforeAll(async () => {
    h = await startHarness('dir-index');
    bucket = new EncryptedBucket(h.store, keyring('rsa-key-a.private.pem'));
    indexes = new DirectoryIndexes(bucket);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reads back the HEADs it was given, encrypted in the bucket; a directory without one has none', async () => {
    await bucket.put('docs/a.txt', Buffer.from('alpha'), { meta: encodePosixMeta({ mode: 0o100640, mtime: 1_700_000_000 }) });
    const head = await h.store.head('docs/a.txt');
    const entry = indexed('a.txt', head, 0);
    await indexes.write('docs/', [entry, indexed('b', { ...head, key: 'docs/b' }, ANSWER_SLACK_S)]);
    expect(await indexes.read('docs/')).toEqual([entry, { ...entry, name: 'b', slackS: ANSWER_SLACK_S }]);
    const stored = await h.store.get('docs/.ossencfs-index');
    expect(Object.keys(stored.head.meta)).toContain('client-side-encryption-key');
    stored.body.destroy();
    expect(await indexes.read('empty/')).toBeUndefined();
  });

  it('reads a big index entry by entry as it arrives, whatever the names and values hold', async () => {
    const head = { key: 'big/x', etag: '"E"', size: 7, lastModified: new Date(1_700_000_000_000), contentType: undefined, meta: {} };
    // Quotes, backslashes, braces, brackets and characters of several UTF-8 bytes, split across the reader's chunks.
    const odd = ['q"uote', 'back\\slash\\', '{brace}', '[bracket]', 'é😀中', ' ,:'];
    const written = Array.from({ length: 3000 }, (_, i) => indexed(`${odd[i % odd.length]}-${i}`, { ...head, meta: { note: `${odd[(i + 1) % odd.length]}${'x'.repeat(i % 700)}` } }, 0));
    await indexes.write('big/', written);
    const taken: string[] = [];
    expect(await indexes.each('big/', (entry) => taken.push(entry.name))).toBe(true);
    expect(taken).toEqual(written.map((e) => e.name));
    expect(await indexes.read('big/')).toEqual(written);
    expect(await indexes.each('none/', () => undefined)).toBe(false);
  });

  it('refuses with EBADMSG an index in plaintext, tampered with, of another key, of another directory or malformed', async () => {
    await indexes.write('docs/', []);
    await h.store.copy('docs/.ossencfs-index', 'other/.ossencfs-index');
    expect(await errnoOf(indexes.read('other/'))).toBe('EBADMSG');

    const doc = (entries: unknown[]): Buffer => gzipSync(JSON.stringify({ format: 'ossencfs-directory-index', version: 1, dir: 'plain/', entries }));
    await h.store.put('plain/.ossencfs-index', doc([]), { meta: {} });
    expect(await errnoOf(indexes.read('plain/'))).toBe('EBADMSG');

    await bucket.put('bad/.ossencfs-index', gzipSync(JSON.stringify({ format: 'ossencfs-directory-index', version: 1, dir: 'bad/' })));
    expect(await errnoOf(indexes.read('bad/'))).toBe('EBADMSG');
    await bucket.put('bad/.ossencfs-index', gzipSync(JSON.stringify({ entries: [], format: 'ossencfs-directory-index', version: 1, dir: 'other/' })));
    expect(await errnoOf(indexes.read('bad/'))).toBe('EBADMSG');
    await bucket.put('bad/.ossencfs-index', Buffer.from('not gzip'));
    expect(await errnoOf(indexes.read('bad/'))).toBe('EBADMSG');
    await bucket.put('bad/.ossencfs-index', doc([{ name: 'x', etag: '"e"', size: -1, lastModifiedS: 1, slackS: 0, meta: {} }]));
    expect(await errnoOf(indexes.read('bad/'))).toBe('EBADMSG');
    await bucket.put('bad/.ossencfs-index', doc([{ name: 'x', etag: '"e"', size: 1, lastModifiedS: 1, slackS: 0, meta: { mode: 7 } }]));
    expect(await errnoOf(indexes.read('bad/'))).toBe('EBADMSG');

    await new DirectoryIndexes(new EncryptedBucket(h.store, keyring('rsa-key-b.private.pem'))).write('theirs/', []);
    expect(await errnoOf(indexes.read('theirs/'))).toBe('EBADMSG');

    // Its ciphertext flipped: the plaintext MD5 no longer matches.
    const sealed = await h.store.get('docs/.ossencfs-index');
    const chunks: Buffer[] = [];
    for await (const c of sealed.body) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    body[body.length - 1]! ^= 1;
    await h.store.put('docs/.ossencfs-index', body, { meta: sealed.head.meta });
    expect(await errnoOf(indexes.read('docs/'))).toBe('EBADMSG');
  });
});
