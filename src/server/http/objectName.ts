import { OssError } from '../errors.js';

const MAX_KEY_BYTES = 1023;

/** OSS object names: 1 to 1023 UTF-8 bytes. */
export function validateKey(key: string): void {
  const bytes = Buffer.byteLength(key);
  if (bytes === 0 || bytes > MAX_KEY_BYTES) {
    throw new OssError(400, 'InvalidObjectName', 'The specified object is not valid.', { ObjectName: key.slice(0, 64) });
  }
}

/** `x-oss-copy-source: /<bucket>/<url-encoded key>[?versionId=…]` (versions are not kept here). */
export function parseCopySource(value: string): { bucket: string; key: string } {
  const path = value.split('?')[0]!;
  const m = /^\/([^/]+)\/(.*)$/.exec(path);
  if (!m) throw new OssError(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.', { ArgumentName: 'x-oss-copy-source', ArgumentValue: value });
  let key: string;
  try {
    key = decodeURIComponent(m[2]!);
  } catch {
    throw new OssError(400, 'InvalidArgument', 'Copy Source is not URL-encoded properly.', { ArgumentName: 'x-oss-copy-source', ArgumentValue: value });
  }
  validateKey(key);
  return { bucket: m[1]!, key };
}
