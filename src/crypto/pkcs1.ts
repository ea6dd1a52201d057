/**
 * RSAES-PKCS1-v1_5 unpadding of a raw RSA decryption (EM = 00 02 PS 00 M, PS ≥ 8 non-zero bytes).
 * Node refuses PKCS#1 v1.5 private decryption (CVE-2023-46809), so we decrypt without padding and
 * check here. The scan touches every byte and folds the checks with bit operations, so how long it
 * takes does not depend on where the padding is wrong.
 */
export interface Unpadded {
  /** 1 for a well-formed block, 0 for any bad one: a number to fold, never a branch. */
  good: number;
  /** What follows the separator; meaningless when `good` is 0, and then never to be used. */
  message: Buffer;
}

export function scanPkcs1v15(em: Buffer): Unpadded {
  const first = em.length > 0 ? em[0]! : 1;
  const second = em.length > 1 ? em[1]! : 0;
  let good = isZero(first) & isZero(second ^ 2);
  let lookingForSeparator = 1;
  let separator = 0;
  for (let i = 2; i < em.length; i++) {
    const zero = isZero(em[i]!);
    const found = lookingForSeparator & zero;
    separator = select(found, i, separator);
    lookingForSeparator &= ~zero & 1;
  }
  good &= ~lookingForSeparator & 1;
  // The separator must follow at least 8 padding bytes: index ≥ 2 + 8.
  good &= lessOrEqual(10, separator);
  return { good, message: em.subarray(Math.min(separator + 1, em.length)) };
}

/** The message of a good block; every bad block gives the same `undefined`. */
export function unpadPkcs1v15(em: Buffer): Buffer | undefined {
  const { good, message } = scanPkcs1v15(em);
  return good === 1 ? message : undefined;
}

/** 1 if two non-negative ints below 2^31 are equal, else 0, without a branch. */
export function equalBit(a: number, b: number): number {
  return isZero(a ^ b);
}

/** 1 if b (a non-negative int below 2^31) is 0, else 0, without a branch. */
function isZero(b: number): number {
  return ((b - 1) >>> 31) & 1;
}

/** a if bit is 1, b if 0. */
function select(bit: number, a: number, b: number): number {
  const mask = -bit;
  return (a & mask) | (b & ~mask);
}

/** 1 if a ≤ b for small non-negative ints. */
function lessOrEqual(a: number, b: number): number {
  return (((b - a) >>> 31) & 1) ^ 1;
}
