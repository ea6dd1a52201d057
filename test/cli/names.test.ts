import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import { bucketOfKeyA, type CliWorld, startWorld } from './harness.js';

let w: CliWorld;
let bucket: EncryptedBucket;
beforeAll(async () => {
  w = await startWorld();
  bucket = bucketOfKeyA(w);
});
afterAll(async () => w?.close());

// ESC repaints the screen, CR rewrites the line, U+202E reverses what follows.
const ESC = 'ctl/esc\u001b[2Jcleared';
const CR = 'ctl/cr\rFAKE LINE';
const BIDI = 'ctl/bidi\u202egpj.exe';
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

describe('control characters in object names are escaped wherever a name is printed', () => {
  beforeAll(async () => {
    for (const key of [ESC, CR, BIDI]) await bucket.put(key, Buffer.from('x'));
    // Unreadable: no encryption headers, so verify names it in a FAIL line.
    await w.store.put('ctl/bad\u001b]0;title\u0007', Buffer.from('plain'), { meta: {} });
  });

  it('ls, ls -l and stat', async () => {
    const ls = await w.run(['ls', 'oss://vault/ctl/', ...w.base]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).not.toMatch(RAW);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['bad\\x1b]0;title\\x07', 'bidi\\u202egpj.exe', 'cr\\rFAKE LINE', 'esc\\x1b[2Jcleared']);
    const long = await w.run(['ls', '-l', 'oss://vault/ctl/', ...w.base]);
    expect(long.stdout).not.toMatch(RAW);
    expect(long.stdout).toContain('esc\\x1b[2Jcleared');

    const stat = await w.run(['stat', `oss://vault/${ESC}`, ...w.base]);
    expect(stat.code).toBe(0);
    expect(stat.stdout).not.toMatch(RAW);
    expect(stat.stdout).toContain('esc\\x1b[2Jcleared');
  });

  it('get and put messages, and verify FAIL lines', async () => {
    const missing = await w.run(['get', `oss://vault/${CR}-gone`, join(w.dir, 'x'), ...w.base]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).not.toMatch(RAW);
    expect(missing.stderr).toContain('cr\\rFAKE LINE-gone');

    const verify = await w.run(['verify', 'oss://vault/ctl/', ...w.base]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).not.toMatch(RAW);
    expect(verify.stdout).toContain('FAIL oss://vault/ctl/bad\\x1b]0;title\\x07: ');
  });
});
