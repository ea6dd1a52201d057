import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A customer master key as kept on disk (one 0600 JSON file per key). */
interface StoredKey {
  keyId: string;
  keyVersionId: string;
  /** AES-256 key material, hex. */
  material: string;
  creationDate: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BLOB_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class KeyNotFound extends Error {}
export class BadCiphertext extends Error {}

/**
 * The local KMS's keys and its ciphertext blobs: base64 of
 * `keyId (36 ASCII) | version | nonce | AES-256-GCM ciphertext | tag`, the AAD binding the key id
 * and the encryption context. Like a real blob it starts with the key's UUID, so Decrypt needs no
 * KeyId and the OSS SDKs' form detection behaves as with real KMS.
 */
export class KeyStore {
  private readonly cache = new Map<string, StoredKey>();

  constructor(private readonly dir: string) {}

  async createKey(): Promise<StoredKey> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const key: StoredKey = {
      keyId: randomUUID(),
      keyVersionId: randomUUID(),
      material: randomBytes(32).toString('hex'),
      creationDate: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    await writeFile(this.file(key.keyId), JSON.stringify(key), { mode: 0o600, flag: 'wx' });
    this.cache.set(key.keyId, key);
    return key;
  }

  async key(keyId: string): Promise<StoredKey> {
    const cached = this.cache.get(keyId);
    if (cached) return cached;
    if (!UUID.test(keyId)) throw new KeyNotFound();
    let text: string;
    try {
      text = await readFile(this.file(keyId), 'utf8');
    } catch {
      throw new KeyNotFound();
    }
    const key = JSON.parse(text) as StoredKey;
    this.cache.set(keyId, key);
    return key;
  }

  async encrypt(keyId: string, plaintext: Buffer, context: string): Promise<{ blob: string; key: StoredKey }> {
    const key = await this.key(keyId);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), nonce);
    cipher.setAAD(aad(key.keyId, context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const blob = Buffer.concat([Buffer.from(key.keyId, 'latin1'), Buffer.of(BLOB_VERSION), nonce, body, cipher.getAuthTag()]);
    return { blob: blob.toString('base64'), key };
  }

  async decrypt(blobText: string, context: string): Promise<{ plaintext: Buffer; key: StoredKey }> {
    const blob = Buffer.from(blobText, 'base64');
    if (blob.length < 36 + 1 + NONCE_BYTES + TAG_BYTES || blob[36] !== BLOB_VERSION) throw new BadCiphertext();
    const keyId = blob.subarray(0, 36).toString('latin1');
    if (!UUID.test(keyId)) throw new BadCiphertext();
    const key = await this.key(keyId);
    const nonce = blob.subarray(37, 37 + NONCE_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), nonce);
    decipher.setAAD(aad(keyId, context));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
    try {
      const plaintext = Buffer.concat([decipher.update(blob.subarray(37 + NONCE_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
      return { plaintext, key };
    } catch {
      throw new BadCiphertext();
    }
  }

  private file(keyId: string): string {
    return path.join(this.dir, `${keyId}.json`);
  }
}

function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`${keyId}\n${context}`, 'utf8');
}
