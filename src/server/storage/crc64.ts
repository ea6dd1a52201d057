import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Our addon over liblzma's CRC-64 (native/crc64; the ECMA-182 polynomial, reflected, as CRC-64/XZ,
 * which is what OSS reports in `x-oss-hash-crc64ecma`). liblzma picks a carry-less multiply
 * version on x86-64, several times faster than table-driven WebAssembly (docs/performance.md).
 */
const ADDON = fileURLToPath(new URL('../../../native/crc64/build/Release/crc64.node', import.meta.url));

type Update = (bytes: Uint8Array, previous: bigint) => bigint;
let update: Update | undefined;

/** Loaded on first use, so a command that never runs a server does not need the addon. */
function crc64(): Update {
  if (update) return update;
  try {
    update = (createRequire(import.meta.url)(ADDON) as { crc64: Update }).crc64;
  } catch (err) {
    throw new Error(`native/crc64 is not built (scripts/setup.sh builds it): ${(err as Error).message.split('\n')[0]}`);
  }
  return update;
}

/**
 * Loads the addon, throwing the message above if it cannot. The server calls it as it starts, so
 * a tree setup.sh did not build fails there and then rather than on its first PUT.
 */
export function loadCrc64(): void {
  crc64();
}

/** The CRC64 of a body fed chunk by chunk, as OSS writes it: an unsigned decimal string. */
export class Crc64 {
  private state = 0n;

  update(chunk: Uint8Array): void {
    this.state = crc64()(chunk, this.state);
  }

  digest(): string {
    return this.state.toString();
  }
}

// Reflected ECMA-182 polynomial, as CRC-64/XZ (the OSS variant) processes bits.
const POLY = 0xc96c5795d7870f42n;
type Gf2Matrix = bigint[];

function times(matrix: Gf2Matrix, vector: bigint): bigint {
  let sum = 0n;
  for (let i = 0; vector !== 0n; i++, vector >>= 1n) {
    if (vector & 1n) sum ^= matrix[i]!;
  }
  return sum;
}

function compose(outer: Gf2Matrix, inner: Gf2Matrix): Gf2Matrix {
  return inner.map((column) => times(outer, column));
}

/** The linear map that advances a CRC register over `length` zero bytes (zlib's crc32_combine idea). */
function zeroBytesOperator(length: number): Gf2Matrix {
  let power: Gf2Matrix = [POLY];
  for (let n = 1, row = 1n; n < 64; n++, row <<= 1n) power.push(row); // one zero bit
  for (let i = 0; i < 3; i++) power = compose(power, power); // eight zero bits: one byte
  let result: Gf2Matrix | undefined;
  for (let left = length; left > 0; left = Math.floor(left / 2)) {
    if (left % 2 === 1) result = result ? compose(power, result) : power;
    if (left > 1) power = compose(power, power);
  }
  return result ?? Array.from({ length: 64 }, (_, i) => 1n << BigInt(i));
}

/**
 * CRC64 of A‖B from crc(A), crc(B) and |B|, so a multipart completion never rereads its parts.
 * Operators are cached per length because parts of one upload mostly share a size.
 */
export function crc64Combiner(): (crcA: string, crcB: string, lengthB: number) => string {
  const operators = new Map<number, Gf2Matrix>();
  return (crcA, crcB, lengthB) => {
    let operator = operators.get(lengthB);
    if (!operator) operators.set(lengthB, (operator = zeroBytesOperator(lengthB)));
    return (times(operator, BigInt(crcA)) ^ BigInt(crcB)).toString();
  };
}
