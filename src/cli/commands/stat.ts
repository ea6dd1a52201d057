import type { CommandModule } from 'yargs';
import { printable } from '../../util/printable.js';
import { formatMatdesc, readEnvelope } from '../../crypto/index.js';
import { decodePosixMeta } from '../../secure/index.js';
import { ATTR_MAC } from '../../secure/attrMac.js';
import { XATTR_META } from '../../secure/xattrs.js';
import { objectError } from '../listing.js';
import { type BucketArgs, bucketOptions, openStore, ossUrl, parseOssUrl, resolveSettings, UsageError } from '../options.js';

interface Args extends BucketArgs {
  url: string;
}

/** What an object's headers say about its encryption. Shows no key material, wrapped or not. */
const stat: CommandModule<object, Args> = {
  command: 'stat <url>',
  describe: "show an object's size, POSIX attributes and encryption envelope (no key needed)",
  builder: (y) =>
    bucketOptions(y)
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET/KEY' })
      .example('$0 stat oss://vault/scans/2024.pdf', 'which key (matdesc) and algorithms protect it'),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    if (loc.prefix === '') throw new UsageError(`${argv.url} names a bucket, not an object`);
    const store = openStore(resolveSettings(argv), loc.bucket);
    const rows: [string, string][] = [];
    try {
      const head = await store.head(loc.prefix);
      const envelope = readEnvelope(head.meta, loc.prefix);
      const posix = decodePosixMeta(head.meta);
      rows.push(['object', ossUrl(loc.bucket, loc.prefix)], ['size', String(head.size)]);
      rows.push(['last-modified', head.lastModified.toISOString()], ['etag', head.etag]);
      if (head.contentType) rows.push(['content-type', head.contentType]);
      if (posix.mode !== undefined) rows.push(['mode', `0${posix.mode.toString(8)}`]);
      if (posix.uid !== undefined) rows.push(['uid', String(posix.uid)]);
      if (posix.gid !== undefined) rows.push(['gid', String(posix.gid)]);
      if (posix.rdev !== undefined) rows.push(['rdev', String(posix.rdev)]);
      for (const time of ['mtime', 'atime', 'ctime'] as const) {
        const seconds = posix[time];
        if (seconds !== undefined) rows.push([time, new Date(seconds * 1000).toISOString()]);
      }
      // Whether the MAC verifies takes the private key; this says only whether one was written.
      rows.push(['attr-mac', ATTR_MAC in head.meta ? 'present (owner and mode vouched for if it verifies)' : 'absent (owner and mode not vouched for)']);
      rows.push(['xattrs', XATTR_META in head.meta ? 'present (sealed)' : 'none']);
      if (!envelope) {
        rows.push(['encrypted', 'no (plaintext object)']);
      } else {
        const opt = (v: number | undefined): string => (v === undefined ? '-' : String(v));
        rows.push(
          ['encrypted', `yes (${envelope.format === 'v1' ? 'old V1' : 'V2'} format)`],
          ['cek-alg', envelope.cekAlg],
          ['wrap-alg', envelope.wrapAlg],
          ['matdesc', envelope.matdesc ? formatMatdesc(envelope.matdesc) : '-'],
          ['part-size', opt(envelope.partSize)],
          ['data-size', opt(envelope.dataSize)],
          ['plaintext-length', opt(envelope.unencryptedContentLength)],
          ['plaintext-md5', envelope.unencryptedContentMd5 === undefined ? 'absent' : 'present'],
        );
      }
    } catch (err) {
      throw objectError(err, loc.bucket, loc.prefix);
    }
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) process.stdout.write(`${printable(k).padEnd(width)}  ${printable(v)}\n`);
  },
};

export default stat;
