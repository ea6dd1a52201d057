import type { CommandModule } from 'yargs';
import { printable } from '../../util/printable.js';
import { FsError } from '../../errors.js';
import { DirectoryIndexes } from '../../secure/index.js';
import { isNoSuchBucket, openBuckets } from '../buckets.js';
import { listPages } from '../../store/listPages.js';
import { dirPrefix, objectError } from '../listing.js';
import { type BucketArgs, bucketOptions, openStore, ossUrl, parseOssUrl, resolveSettings } from '../options.js';

interface Args extends BucketArgs {
  url: string;
  long?: boolean;
  recursive?: boolean;
}

/**
 * Lists a prefix as a directory: names relative to it, sub-directories with a trailing '/'.
 * Sizes are plaintext sizes (AES-CTR keeps the length), so no key is needed to list.
 */
const ls: CommandModule<object, Args> = {
  command: 'ls <url>',
  describe: 'list objects under oss://BUCKET[/PREFIX], or the buckets with oss:// (names, sizes; no key needed)',
  builder: (y) =>
    bucketOptions(y)
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX], or oss:// for the buckets' })
      .option('long', { alias: 'l', type: 'boolean', describe: 'size, modification time, name' })
      .option('recursive', { alias: 'r', type: 'boolean', describe: 'everything below, not just one level' })
      .example('$0 ls -l oss://vault/scans/', 'one level, with sizes and dates')
      .example('$0 ls -r oss://vault', 'every object in the bucket'),
  handler: async (argv) => {
    if (/^oss:\/*$/.test(argv.url)) return listBuckets(argv);
    const loc = parseOssUrl(argv.url);
    const store = openStore(resolveSettings(argv), loc.bucket);
    const base = dirPrefix(loc.prefix);
    const print = (name: string, size: number | undefined, modified: Date | undefined): void => {
      if (!argv.long) return void process.stdout.write(`${printable(name)}\n`);
      const sizeText = size === undefined ? 'DIR' : String(size);
      const when = modified ? modified.toISOString().replace(/\.\d+Z$/, 'Z') : '';
      process.stdout.write(`${sizeText.padStart(14)}  ${when.padEnd(20)}  ${printable(name)}\n`);
    };
    let any = false;
    try {
      for await (const page of listPages(store, base, argv.recursive ? undefined : '/')) {
        for (const p of page.prefixes) {
          any = true;
          print(p.slice(base.length), undefined, undefined);
        }
        for (const o of page.objects) {
          any = true;
          // The directory's own marker is the directory, not an entry in it; its index is the mount's.
          if (o.key === base || DirectoryIndexes.isIndex(o.key)) continue;
          print(o.key.slice(base.length), o.key.endsWith('/') ? undefined : o.size, o.lastModified);
        }
      }
      if (any || base === '') return;
      // Not a directory: maybe a single object.
      const head = await store.head(loc.prefix);
      print(loc.prefix, head.size, head.lastModified);
    } catch (err) {
      if (isNoSuchBucket(err)) throw new FsError('ENOENT', `bucket ${loc.bucket} does not exist (make it with: ossencfs mb oss://${loc.bucket})`);
      if (err instanceof FsError && err.errno === 'ENOENT') throw new FsError('ENOENT', `${ossUrl(loc.bucket, loc.prefix)}: no such object or directory`);
      throw objectError(err, loc.bucket, loc.prefix);
    }
  },
};

/** `ls oss://`: the account's buckets, as oss://NAME (with -l: creation time and region). */
async function listBuckets(argv: Args): Promise<void> {
  for (const b of await (await openBuckets(resolveSettings(argv))).list()) {
    const url = `oss://${b.name}`;
    const when = b.created.toISOString().replace(/\.\d+Z$/, 'Z');
    process.stdout.write(argv.long ? `${when.padEnd(20)}  ${(b.region ?? '').padEnd(16)}  ${url}\n` : `${url}\n`);
  }
}

export default ls;
