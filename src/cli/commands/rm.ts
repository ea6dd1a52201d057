import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { dirPrefix, objectError, objectsAt } from '../listing.js';
import { type BucketArgs, bucketOptions, openStore, ossUrl, parseOssUrl, resolveSettings, UsageError } from '../options.js';

interface Args extends BucketArgs {
  url: string;
  recursive?: boolean;
}

const rm: CommandModule<object, Args> = {
  command: 'rm <url>',
  describe: 'delete an object, or with -r everything under a prefix (no key needed)',
  builder: (y) =>
    bucketOptions(y, ['progress'])
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET/KEY or, with -r, oss://BUCKET/PREFIX' })
      .option('recursive', { alias: 'r', type: 'boolean', describe: 'delete every object under the prefix (and the object itself)' })
      .example('$0 rm oss://vault/tmp/scratch.bin', 'one object')
      .example('$0 rm -r oss://vault/old-scans', 'a whole directory'),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    const url = ossUrl(loc.bucket, loc.prefix);
    if (!argv.recursive && (loc.prefix === '' || loc.prefix.endsWith('/'))) throw new UsageError(`${url} is a directory — pass -r to delete everything under it`);
    const settings = resolveSettings(argv);
    const store = openStore(settings, loc.bucket);
    try {
      if (!argv.recursive) {
        await store.head(loc.prefix).catch(async (err: unknown) => {
          // No object of that name, but objects under it: a directory, as `rm` without -r says.
          if (err instanceof FsError && err.errno === 'ENOENT' && (await store.list(dirPrefix(loc.prefix), { maxKeys: 1 })).objects.length > 0) {
            throw new UsageError(`${url} is a directory — pass -r to delete everything under it`);
          }
          throw err;
        });
        await store.delete(loc.prefix);
        return;
      }
      const keys = (await objectsAt(store, loc.prefix)).map((o) => o.key);
      if (keys.length === 0) throw new FsError('ENOENT', `${url}: no such object or directory`);
      await store.deleteMany(keys);
      if (!settings.quiet) process.stderr.write(`deleted ${keys.length} object(s)\n`);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw objectError(err, loc.bucket, loc.prefix);
    }
  },
};

export default rm;
