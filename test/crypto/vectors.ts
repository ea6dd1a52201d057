import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { CryptoError } from '../../src/crypto/index.js';
import type { ObjectMeta } from '../../src/store/ObjectStore.js';

/** The shared vectors live next to the project: <project>/../shared/vectors. */
export const VECTORS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/vectors');

export interface RangeGet {
  requested: [number, number | null];
  sent_range_header: string;
  plaintext_offset: number;
  plaintext_length: number;
  plaintext_sha256: string;
}

export interface Oss2Case {
  name: string;
  operation: 'PutObject' | 'MultipartUpload';
  key_pair: string;
  provider_mat_desc: Record<string, string> | null;
  plaintext_file: string;
  ciphertext_file: string;
  headers: Record<string, string>;
  cek_hex: string;
  iv_hex: string;
  range_gets?: RangeGet[];
  data_size?: number;
  part_size?: number;
  parts?: { part_number: number; plaintext_offset: number; plaintext_length: number; ciphertext_file: string; counter_block_offset: number }[];
  reader?: {
    default_key_pair: string;
    default_mat_desc: Record<string, string> | null;
    registered_materials: { mat_desc: Record<string, string>; key_pair: string }[];
  };
}

const oss2 = (...p: string[]) => path.join(VECTORS, 'oss2-rsa', ...p);
const fixtures = (...p: string[]) => path.join(VECTORS, 'sdk-fixtures', ...p);

export function oss2CaseNames(): string[] {
  return (JSON.parse(readFileSync(oss2('index.json'), 'utf8')) as { cases: string[] }).cases;
}

export function oss2Case(name: string): Oss2Case {
  return JSON.parse(readFileSync(oss2('cases', `${name}.json`), 'utf8')) as Oss2Case;
}

export const oss2File = (file: string) => readFileSync(oss2('cases', file));
export const oss2Key = (pair: string, which: 'private' | 'public') => readFileSync(oss2('keys', `${pair}.${which}.pem`), 'utf8');

/** `x-oss-meta-*` headers as ObjectStore metadata: the name after the prefix. */
export function toMeta(headers: Record<string, string>): ObjectMeta {
  const meta: ObjectMeta = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase().startsWith('x-oss-meta-')) meta[name.slice('x-oss-meta-'.length)] = value;
  }
  return meta;
}

export interface FixtureCase {
  name: string;
  meta: ObjectMeta;
  ciphertext: Buffer;
  plaintext: Buffer;
}

export function sdkFixtures(): FixtureCase[] {
  const read = (f: string) => readFileSync(fixtures('cases', f));
  const headers = (n: string) => toMeta(JSON.parse(read(`${n}.headers.json`).toString('utf8')) as Record<string, string>);
  const jpg = read('example.plaintext.jpg');
  return [
    { name: 'go-sdk-example', plaintext: jpg },
    { name: 'cpp-sdk-example', plaintext: jpg },
    { name: 'v1-rsa-1MiB-a', plaintext: Buffer.alloc(1024 * 1024, 0x61) },
  ].map((c) => ({ ...c, meta: headers(c.name), ciphertext: read(`${c.name}.ciphertext.bin`) }));
}

export const fixtureKey = (which: 'private' | 'public') => readFileSync(fixtures('keys', `compact.${which}.pem`), 'utf8');

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Awaits a promise that must reject with a CryptoError, and returns that error. */
export async function expectCryptoError(p: Promise<unknown>): Promise<CryptoError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CryptoError);
  return err as CryptoError;
}
