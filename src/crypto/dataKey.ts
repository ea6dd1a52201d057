import { randomBytes } from 'node:crypto';
import { CryptoError, describeObject } from './errors.js';
import type { DataKey, Envelope } from './types.js';

export const KEY_BYTES = 32;
export const IV_BYTES = 16;

/**
 * A fresh key and IV. The IV has bytes 8..11 zero like every SDK's, so Go's and Java's
 * narrower counter arithmetic gives the same keystream as full 128-bit addition.
 */
export function newDataKey(): DataKey {
  const iv = randomBytes(IV_BYTES);
  iv.fill(0, 8, 12);
  return { key: randomBytes(KEY_BYTES), iv };
}

/** A DataKey from unwrapped bytes, or 'unwrap-failed': a wrong length means the wrong master key. */
export function checkedDataKey(key: Buffer, iv: Buffer, objectKey: string): DataKey {
  if (key.length !== KEY_BYTES || iv.length !== IV_BYTES) throw unwrapFailed(objectKey);
  return { key, iv };
}

const V1_COUNTER = /^[0-9]{1,39}$/;

/**
 * The IV from an unwrapped "start": V2 stores the counter block itself; V1 stores the initial
 * counter as decimal text, the block being that integer big-endian.
 */
export function ivFromStart(envelope: Envelope, start: Buffer, objectKey: string): Buffer {
  if (envelope.format === 'v2') return start;
  const text = start.toString('latin1');
  if (!V1_COUNTER.test(text)) throw unwrapFailed(objectKey);
  const counter = BigInt(text);
  if (counter >= 1n << 128n) throw unwrapFailed(objectKey);
  return Buffer.from(counter.toString(16).padStart(32, '0'), 'hex');
}

export function unwrapFailed(objectKey: string, cause?: unknown): CryptoError {
  return new CryptoError(
    'unwrap-failed',
    objectKey,
    `cannot unwrap the data key of ${describeObject(objectKey)}: wrong key or altered encryption headers`,
    cause === undefined ? undefined : { cause },
  );
}
