import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { discardBody, receiveBody } from '../../src/server/storage/files.js';

const MiB = 1 << 20;

/** `chunks` one by one, then (if given) `failure` instead of the end: a client gone mid-body. */
function body(chunks: Buffer[], failure?: Error): Readable {
  return new Readable({
    read() {
      const next = chunks.shift();
      if (next) this.push(next);
      else if (failure) this.destroy(failure);
      else this.push(null);
    },
  });
}

// Bodies above 256 KiB stream into a temporary file; the ones here are all that kind.
describe('receiving a streamed request body', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-receive-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every byte, hashed, in a 0600 file', async () => {
    const data = randomBytes(9 * MiB + 7); // past 8 MiB: hashed on the worker threads
    const chunks = Array.from({ length: Math.ceil(data.length / 65_536) }, (_, i) => data.subarray(i * 65_536, (i + 1) * 65_536));
    const received = await receiveBody(body(chunks), dir, data.length);
    expect(received.size).toBe(data.length);
    expect(received.md5.toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
    const path = (received.piece as { path: string }).path;
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await discardBody(received);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a body that fails mid-way rejects with its own error and leaves no file', async () => {
    // The receive closes its file once. A second close (what an fs.WriteStream on the same fd
    // added) rejects with EBADF in place of the cause, or, under load, closes whatever file or
    // socket was handed that number meanwhile.
    const failure = new Error('client went away');
    for (const size of [3 * MiB, 9 * MiB]) {
      await expect(receiveBody(body([randomBytes(MiB), randomBytes(MiB)], failure), dir, size)).rejects.toBe(failure);
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});
