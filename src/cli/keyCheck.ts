import { CryptoError, type Keyring, readEnvelope } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectInfo, ObjectStore } from '../store/ObjectStore.js';
import { KEY_CHECK_HEADS } from '../tuning.js';


/**
 * Refuses a mount whose keys cannot open the bucket's existing objects: its reads would all fail,
 * and its new files would be written under a key that cannot read the old ones, mixing keys in one
 * bucket. The first encrypted object among `objects` (a listing the mount made anyway) is headed
 * and its data key unwrapped: one HEAD and one RSA decryption (or KMS call).
 */
export async function checkKeyOpensBucket(store: ObjectStore, keyring: Keyring, bucket: string, objects: readonly ObjectInfo[]): Promise<void> {
  const files = objects.filter((o) => !o.key.endsWith('/')).slice(0, KEY_CHECK_HEADS);
  for (const { key } of files) {
    try {
      const envelope = readEnvelope((await store.head(key)).meta, key);
      if (envelope === undefined) continue;
      await keyring.open(envelope, key);
      return;
    } catch (err) {
      // Deleted since the listing.
      if (err instanceof FsError && err.errno === 'ENOENT' && !(err instanceof CryptoError)) continue;
      if (!(err instanceof CryptoError)) throw err;
      // A public key alone is encrypt-only by choice: it reads nothing, whoever wrote the bucket.
      if (err.kind === 'encrypt-only') return;
      if (err.kind === 'unwrap-failed' || err.kind === 'no-key-for-matdesc') {
        throw new FsError(
          'EACCES',
          `this key does not open oss://${bucket}/${key}; pass the key that wrote it or --decrypt-key (--skip-key-check mounts anyway, and new files then use a key the old ones do not)`,
          { cause: err },
        );
      }
      // The key service failing is no verdict on the key, but the mount could read nothing.
      if (err.kind === 'kms-failure') throw err;
      // An object this client cannot parse says nothing about the key: try the next one.
    }
  }
}
