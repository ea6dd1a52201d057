import { LRUCache } from 'lru-cache';
import { CEK_ALG_AES_CTR } from './algorithms.js';
import { checkedDataKey, newDataKey } from './dataKey.js';
import { CryptoError, describeObject } from './errors.js';
import { describeMatdesc, sameMatdesc } from './matdesc.js';
import type { DataKey, Envelope, EnvelopeExtra, MasterKey, WrappedDataKey } from './types.js';
import { UNWRAP_CACHE_ENTRIES } from '../tuning.js';


/**
 * The master keys of a mount: one writer (new objects) and any number of readers, selected per
 * object by matdesc. Unwrapped data keys are cached so reading a file block by block does not
 * redo RSA or call KMS each time.
 */
export class Keyring {
  readonly writer: MasterKey | undefined;
  private readonly readers: readonly MasterKey[];
  private readonly unwrapped = new LRUCache<string, Promise<DataKey>>({ max: UNWRAP_CACHE_ENTRIES });
  private readonly sealAhead: boolean;
  /** The next seal's data key, made and wrapped ahead; taken by exactly one seal. */
  private ahead: Promise<SealedKey> | undefined;

  /**
   * `sealAhead`: after each seal, make the next data key and wrap it (RSA, or a KMS call) in the
   * background, once the caller's current work is on its way. A mount writing file after file
   * then does not wait for it at each close: with KMS that is a network round trip to the key
   * service per file; with RSA a fraction of a millisecond of CPU, no loss on busy cores (figures
   * in docs/performance.md). It costs one key made and never used when writing stops.
   */
  constructor(o: { writer?: MasterKey; readers?: MasterKey[]; sealAhead?: boolean }) {
    this.writer = o.writer;
    this.sealAhead = o.sealAhead ?? false;
    const readers = [...(o.writer ? [o.writer] : []), ...(o.readers ?? [])];
    this.readers = readers.filter((k, i) => readers.findIndex((r) => r.id === k.id && sameMatdesc(r.matdesc, k.matdesc)) === i);
  }

  get canWrite(): boolean {
    return this.writer !== undefined;
  }

  /** Authenticates the attributes of new writes: the writer's key, when it holds a local secret. */
  get attributeSigner(): ((input: Buffer) => Buffer) | undefined {
    return this.writer?.attributeMac;
  }

  /** Every key that can have authenticated attributes: a re-key leaves the old ones checkable. */
  get attributeVerifiers(): ((input: Buffer) => Buffer)[] {
    return this.readers.flatMap((k) => (k.attributeMac ? [k.attributeMac] : []));
  }

  async seal(extra: EnvelopeExtra = {}): Promise<{ dataKey: DataKey; envelope: Envelope }> {
    const writer = this.requireWriter();
    const made = this.ahead;
    this.ahead = undefined;
    // One made ahead that failed (KMS unreachable then) is no verdict on now: make one here.
    const { dataKey, wrapped } = (await made?.catch(() => undefined)) ?? (await newSealedKey(writer));
    if (this.sealAhead) {
      setImmediate(() => {
        this.ahead ??= newSealedKey(writer);
        this.ahead.catch(() => undefined);
      });
    }
    const envelope = { ...withoutUndefined(extra), ...this.wrappedEnvelope(writer, wrapped) };
    // Our own write needs no unwrap to be read back.
    this.unwrapped.set(cacheKey(envelope), Promise.resolve(dataKey));
    return { dataKey, envelope };
  }

  async open(envelope: Envelope, objectKey: string): Promise<DataKey> {
    const key = cacheKey(envelope);
    let pending = this.unwrapped.get(key);
    if (pending === undefined) {
      // Concurrent reads of one object (read-ahead) share a single unwrap.
      pending = this.unwrap(envelope, objectKey);
      this.unwrapped.set(key, pending);
      pending.catch(() => {
        if (this.unwrapped.peek(key) === pending) this.unwrapped.delete(key);
      });
    }
    return pending;
  }

  async rewrap(envelope: Envelope, objectKey: string): Promise<Envelope> {
    const writer = this.requireWriter();
    const dataKey = await this.open(envelope, objectKey);
    // The writer's matdesc replaces the old one (or its absence); every informational field stays.
    const { matdesc: _replaced, ...kept } = envelope;
    const rewrapped = { ...kept, ...this.wrappedEnvelope(writer, await writer.wrap(dataKey)) };
    this.unwrapped.set(cacheKey(rewrapped), Promise.resolve(dataKey));
    return rewrapped;
  }

  private async unwrap(envelope: Envelope, objectKey: string): Promise<DataKey> {
    const candidates = this.readers.filter((k) => sameMatdesc(k.matdesc, envelope.matdesc));
    if (candidates.length === 0) {
      throw new CryptoError(
        'no-key-for-matdesc',
        objectKey,
        `no key for matdesc ${describeMatdesc(envelope.matdesc)} on ${describeObject(objectKey)} — pass --decrypt-key FILE:MATDESC`,
      );
    }
    const able = candidates.filter((k) => (k.unwraps ? k.unwraps(envelope.wrapAlg) : k.wrapAlg === envelope.wrapAlg));
    if (able.length === 0) {
      throw new CryptoError(
        'no-key-for-matdesc',
        objectKey,
        `no ${envelope.wrapAlg} key for matdesc ${describeMatdesc(envelope.matdesc)} on ${describeObject(objectKey)} — configure a key of that kind`,
      );
    }
    const usable = able.filter((k) => k.canUnwrap);
    // A public-only key throws 'encrypt-only' with the right message.
    if (usable.length === 0) return able[0]!.unwrap(envelope, objectKey);
    // Several keys may share a matdesc (none at all, typically): the first that unwraps wins.
    // Only a wrong-key failure moves on; a KMS outage must not be reported as a wrong key.
    let failure: unknown;
    for (const key of usable) {
      try {
        const dataKey = await key.unwrap(envelope, objectKey);
        return checkedDataKey(dataKey.key, dataKey.iv, objectKey);
      } catch (err) {
        if (!(err instanceof CryptoError && err.kind === 'unwrap-failed')) throw err;
        failure ??= err;
      }
    }
    throw failure;
  }

  private wrappedEnvelope(writer: MasterKey, wrapped: WrappedDataKey): Envelope {
    const envelope: Envelope = {
      format: 'v2',
      wrapAlg: writer.wrapAlg,
      cekAlg: CEK_ALG_AES_CTR,
      wrappedKey: wrapped.wrappedKey,
      wrappedIv: wrapped.wrappedIv,
    };
    if (writer.matdesc) envelope.matdesc = { ...writer.matdesc };
    return envelope;
  }

  private requireWriter(): MasterKey {
    if (this.writer === undefined) {
      throw new CryptoError('no-writer', '', 'no key to encrypt new objects with — pass an encryption key');
    }
    return this.writer;
  }
}

interface SealedKey {
  dataKey: DataKey;
  wrapped: WrappedDataKey;
}

/** A fresh data key and its wrapped form: from the key service if it makes keys, else made here and wrapped. */
async function newSealedKey(writer: MasterKey): Promise<SealedKey> {
  if (writer.generate) {
    const { dataKey, ...wrapped } = await writer.generate();
    return { dataKey: checkedDataKey(dataKey.key, dataKey.iv, ''), wrapped };
  }
  const dataKey = newDataKey();
  return { dataKey, wrapped: await writer.wrap(dataKey) };
}

/** The unwrap result depends only on these; the matdesc just selects a key. */
function cacheKey(e: Envelope): string {
  return `${e.format}\n${e.wrapAlg}\n${e.wrappedKey}\n${e.wrappedIv}`;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
