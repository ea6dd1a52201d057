import { WRAP_ALG_KMS } from './algorithms.js';
import { checkedDataKey, ivFromStart, newDataKey } from './dataKey.js';
import { CryptoError, describeObject } from './errors.js';
import { KmsService, type KmsConnection } from './kmsService.js';
import { normalizeMatdesc } from './matdesc.js';
import type { DataKey, Envelope, Matdesc, MasterKey, WrappedDataKey } from './types.js';

export interface KmsMasterKeyOptions extends KmsConnection {
  /** The customer master key (CMK) id that wraps new data keys. */
  keyId: string;
  matdesc?: Matdesc;
  /**
   * How new objects are written (FORMAT.md §4): 'python' (default) like oss2 — GenerateDataKey,
   * header = base64 of the CiphertextBlob text; 'go' like the Go and Java SDKs — Encrypt for both,
   * header = the CiphertextBlob. Reading detects the form per object.
   */
  form?: 'python' | 'go';
  /** oss2's EncryptionContext {"x-passphrase": …}, used with the Python form only. */
  passphrase?: string;
}

export function kmsMasterKey(o: KmsMasterKeyOptions): MasterKey {
  return new KmsMasterKey(o);
}

const base64 = (b: Buffer) => b.toString('base64');
const fromBase64 = (s: string) => Buffer.from(s, 'base64');

class KmsMasterKey implements MasterKey {
  readonly wrapAlg = WRAP_ALG_KMS;
  readonly canUnwrap = true;
  /** The secret stays in the key service: nothing here can vouch for attributes. */
  readonly attributeMac = undefined;
  readonly id: string;
  readonly matdesc: Matdesc | undefined;
  readonly generate?: () => Promise<{ dataKey: DataKey } & WrappedDataKey>;
  private readonly keyId: string;
  private readonly pythonForm: boolean;
  private readonly context: string | undefined;
  private readonly service: KmsService;

  constructor(o: KmsMasterKeyOptions) {
    this.keyId = o.keyId;
    this.id = `kms:${o.keyId}`;
    this.matdesc = normalizeMatdesc(o.matdesc);
    this.pythonForm = (o.form ?? 'python') === 'python';
    this.context = o.passphrase === undefined ? undefined : JSON.stringify({ 'x-passphrase': o.passphrase });
    this.service = new KmsService(o);
    // oss2 lets KMS make the data key; Go and Java make it locally and Encrypt it.
    if (this.pythonForm) this.generate = () => this.generatePython();
  }

  unwraps(wrapAlg: string): boolean {
    return wrapAlg === WRAP_ALG_KMS;
  }

  async wrap(dataKey: DataKey): Promise<WrappedDataKey> {
    const [wrappedKey, wrappedIv] = await Promise.all([this.encrypt(dataKey.key), this.encrypt(dataKey.iv)]);
    return { wrappedKey, wrappedIv };
  }

  async unwrap(envelope: Envelope, objectKey: string): Promise<DataKey> {
    if (!this.unwraps(envelope.wrapAlg)) {
      throw new CryptoError(
        'unsupported-algorithm',
        objectKey,
        `${describeObject(objectKey)} is wrapped with ${envelope.wrapAlg}, which a KMS key cannot unwrap`,
      );
    }
    const [key, start] = await Promise.all([
      this.decrypt(envelope, envelope.wrappedKey, objectKey),
      this.decrypt(envelope, envelope.wrappedIv, objectKey),
    ]);
    // V1 encrypted the start counter's decimal text itself, not its base64.
    const startBytes = envelope.format === 'v1' ? Buffer.from(start, 'latin1') : fromBase64(start);
    return checkedDataKey(fromBase64(key), ivFromStart(envelope, startBytes, objectKey), objectKey);
  }

  private async generatePython(): Promise<{ dataKey: DataKey } & WrappedDataKey> {
    const { iv } = newDataKey();
    const [generated, ivBlob] = await Promise.all([
      this.service.generateDataKey(this.keyId, this.context, ''),
      this.service.encrypt(this.keyId, base64(iv), this.context, ''),
    ]);
    return {
      dataKey: { key: fromBase64(generated.plaintext), iv },
      wrappedKey: pythonHeader(generated.ciphertextBlob),
      wrappedIv: pythonHeader(ivBlob),
    };
  }

  private async encrypt(plaintext: Buffer): Promise<string> {
    if (this.pythonForm) {
      return pythonHeader(await this.service.encrypt(this.keyId, base64(plaintext), this.context, ''));
    }
    return base64(fromBase64(await this.service.encrypt(this.keyId, base64(plaintext), undefined, '')));
  }

  /** Returns KMS's Plaintext text for one wrapped header, in whichever form the object was written. */
  private decrypt(envelope: Envelope, header: string, objectKey: string): Promise<string> {
    if (envelope.format === 'v1') return this.service.decrypt(header, this.context, objectKey);
    const once = fromBase64(header);
    if (isBase64Text(once)) return this.service.decrypt(once.toString('latin1'), this.context, objectKey);
    return this.service.decrypt(base64(once), undefined, objectKey);
  }
}

/** oss2 base64-encodes the CiphertextBlob text once more. */
function pythonHeader(blob: string): string {
  return Buffer.from(blob, 'latin1').toString('base64');
}

/**
 * A Python-form header decodes to the blob's base64 text; a Go/Java one decodes to the binary
 * blob, which starts with the key's UUID (its '-' is not base64) and is never all base64 letters.
 */
function isBase64Text(bytes: Buffer): boolean {
  if (bytes.length === 0 || bytes.length % 4 !== 0) return false;
  return /^[A-Za-z0-9+/]+={0,2}$/.test(bytes.toString('latin1'));
}
