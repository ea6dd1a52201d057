import type { ObjectHead, ObjectMeta, ObjectStore, Written } from '../store/ObjectStore.js';
import { resendObject, type ResendTuning } from './resend.js';

export interface CopyTuning extends ResendTuning {
  /** Objects smaller than this are copied by one CopyObject (OSS: under 1 GB). */
  copyLimit: number;
}

/**
 * `source` (as headed) to `dest`. Where OSS allows it — the metadata kept as it is and the
 * object under `copyLimit` — this is one server-side CopyObject, pinned to the version headed so
 * that a newer version's ciphertext never pairs with this one's envelope. A new `meta`, or a
 * larger object, goes through the client instead (resendObject), still without re-encryption.
 */
export function copyObject(
  store: ObjectStore,
  source: ObjectHead,
  dest: string,
  meta: ObjectMeta | undefined,
  tuning: CopyTuning,
  onProgress?: (bytes: number) => void,
): Promise<Written> {
  if (meta === undefined && source.size < tuning.copyLimit) {
    return store.copy(source.key, dest, { ifMatch: source.etag });
  }
  return resendObject(store, source, dest, meta ?? source.meta, tuning, onProgress);
}
