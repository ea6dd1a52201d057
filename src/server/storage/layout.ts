import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * On-disk layout under the server's directory:
 *
 *   tmp/                                  bodies being received; emptied on every start
 *   buckets/<bucket>/bucket.json          creation date, storage class
 *   buckets/<bucket>/meta/<h2>/<h>.json   one JSON per object (key, headers, ETag, CRC, data files,
 *                                         or a small object's bytes inline); h = sha256(key), h2 its
 *                                         first two hex digits. Renaming this file into place is the
 *                                         moment an object version exists.
 *   buckets/<bucket>/data/<n2>/<n>        object bytes, immutable once written, random name n; an
 *                                         object is one file, or a multipart one a file per part in
 *                                         order. Copies and completed parts are hard links. Files no
 *                                         metadata names are removed on start.
 *   buckets/<bucket>/uploads/<id>/        a multipart upload: upload.json, <part>.json, <part>-<n> data
 *
 * Listing never walks this tree: every bucket's keys are loaded once at start into a KeyIndex.
 */
export class Layout {
  constructor(readonly root: string) {}

  get tmp(): string {
    return join(this.root, 'tmp');
  }

  get buckets(): string {
    return join(this.root, 'buckets');
  }

  bucket(bucket: string): string {
    return join(this.buckets, bucket);
  }

  bucketFile(bucket: string): string {
    return join(this.bucket(bucket), 'bucket.json');
  }

  metaDir(bucket: string): string {
    return join(this.bucket(bucket), 'meta');
  }

  metaFile(bucket: string, key: string): string {
    const h = createHash('sha256').update(key).digest('hex');
    return join(this.metaDir(bucket), h.slice(0, 2), `${h}.json`);
  }

  dataDir(bucket: string): string {
    return join(this.bucket(bucket), 'data');
  }

  dataFile(bucket: string, name: string): string {
    return join(this.dataDir(bucket), name.slice(0, 2), name);
  }

  uploadsDir(bucket: string): string {
    return join(this.bucket(bucket), 'uploads');
  }

  upload(bucket: string, uploadId: string): string {
    return join(this.uploadsDir(bucket), uploadId);
  }
}
