import { pipeline } from 'node:stream/promises';
import type { CommandModule } from 'yargs';
import { objectError } from '../listing.js';
import { type BucketArgs, bucketOptions, openBucket, parseOssUrl, resolveSettings, UsageError } from '../options.js';

interface Args extends BucketArgs {
  url: string;
}

const cat: CommandModule<object, Args> = {
  command: 'cat <url>',
  describe: 'decrypt an object to stdout',
  builder: (y) =>
    bucketOptions(y, ['decrypt'])
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET/KEY' })
      .example('$0 cat oss://vault/notes/todo.txt | less', 'read without a local copy'),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    if (loc.prefix === '' || loc.prefix.endsWith('/')) throw new UsageError(`${argv.url} names a directory, not an object`);
    const { bucket } = openBucket(resolveSettings(argv), loc.bucket);
    try {
      await pipeline(await bucket.get(loc.prefix), process.stdout);
    } catch (err) {
      // A reader that went away (`| head`) is not a failure of ours.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw objectError(err, loc.bucket, loc.prefix);
    }
  },
};

export default cat;
