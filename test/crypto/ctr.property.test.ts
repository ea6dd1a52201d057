import { createCipheriv } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { counterBlock, ctrAt, ctrStream, newDataKey, type DataKey } from '../../src/crypto/index.js';

const MiB = 1024 * 1024;

/** Deterministic filler so a 5 MiB case costs no RNG time; content is irrelevant to CTR. */
function bytes(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The reference: one cipher from the IV over the whole object. */
const wholeObject = (dataKey: DataKey, plaintext: Buffer) => createCipheriv('aes-256-ctr', dataKey.key, dataKey.iv).update(plaintext);

async function throughStream(dataKey: DataKey, offset: number, input: Buffer, cuts: number[]): Promise<Buffer> {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of [...points, input.length]) {
    if (p > at) chunks.push(input.subarray(at, p));
    at = Math.max(at, p);
  }
  return buffer(Readable.from(chunks).pipe(ctrStream(dataKey, offset)));
}

describe('AES-256-CTR at any offset (property)', () => {
  it('ctrAt at a range start over the ciphertext slice gives the plaintext slice (sizes 0..5 MiB)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 * MiB }),
        fc.integer(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (size, seed, a, b) => {
          const dataKey = newDataKey();
          const plaintext = bytes(size, seed);
          const ciphertext = wholeObject(dataKey, plaintext);
          const start = Math.floor(Math.min(a, b) * size);
          const end = Math.floor(Math.max(a, b) * size);
          expect(ctrAt(dataKey, start, ciphertext.subarray(start, end)).equals(plaintext.subarray(start, end))).toBe(true);
          expect(ctrAt(dataKey, 0, plaintext).equals(ciphertext)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('small objects: every range, exhaustively by property', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.nat(), fc.nat(), (size, x, y) => {
        const dataKey = newDataKey();
        const plaintext = bytes(size, x ^ y);
        const ciphertext = wholeObject(dataKey, plaintext);
        const start = size === 0 ? 0 : x % size;
        const end = start + (size === 0 ? 0 : y % (size - start + 1));
        expect(ctrAt(dataKey, start, ciphertext.subarray(start, end)).equals(plaintext.subarray(start, end))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('ctrStream with random chunking equals ctrAt', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 * MiB }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (size, offset, cuts) => {
          const dataKey = newDataKey();
          const input = bytes(size, offset);
          expect((await throughStream(dataKey, offset, input, cuts)).equals(ctrAt(dataKey, offset, input))).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('the counter wraps around at 2^128 (IV = ff…ff), block by block as AES-ECB of IV+i says', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 100 }), (offset, length) => {
        const dataKey = { key: newDataKey().key, iv: Buffer.alloc(16, 0xff) };
        const zeros = Buffer.alloc(length);
        const keystream = ctrAt(dataKey, offset, zeros);
        const ecb = (block: Buffer) => {
          const c = createCipheriv('aes-256-ecb', dataKey.key, null).setAutoPadding(false);
          return c.update(block);
        };
        for (let i = 0; i < length; i++) {
          const pos = offset + i;
          const counter = (BigInt(`0x${'ff'.repeat(16)}`) + BigInt(Math.floor(pos / 16))) % (1n << 128n);
          const block = Buffer.from(counter.toString(16).padStart(32, '0'), 'hex');
          expect(keystream[i]).toBe(ecb(block)[pos % 16]);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('counterBlock is 128-bit big-endian addition with carry and wrap', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.maxSafeNat(), (iv, index) => {
        const expected = (BigInt(`0x${Buffer.from(iv).toString('hex')}`) + BigInt(index)) % (1n << 128n);
        expect(counterBlock(Buffer.from(iv), index).toString('hex')).toBe(expected.toString(16).padStart(32, '0'));
      }),
    );
  });

  it('newDataKey makes SDK-shaped IVs (bytes 8..11 zero) and 32-byte keys', () => {
    for (let i = 0; i < 20; i++) {
      const { key, iv } = newDataKey();
      expect(key.length).toBe(32);
      expect(iv.length).toBe(16);
      expect(iv.readUInt32BE(8)).toBe(0);
    }
  });
});
