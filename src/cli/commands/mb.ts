import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { bucketOnly, openBuckets } from '../buckets.js';
import { type BucketArgs, bucketOptions, resolveSettings } from '../options.js';

interface Args extends BucketArgs {
  url: string;
}

/** Makes a bucket, as `ossutil mb` does; silent on success, like mkdir. */
const mb: CommandModule<object, Args> = {
  command: 'mb <url>',
  describe: 'make a bucket (no key needed)',
  builder: (y) =>
    bucketOptions(y)
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET' })
      .example('$0 mb oss://my-vault --region cn-hangzhou', 'a new bucket in that region'),
  handler: async (argv) => {
    const bucket = bucketOnly(argv.url);
    await (await openBuckets(resolveSettings(argv)))
      .create(bucket)
      .catch((err: FsError) => {
        if (/\bBucketAlreadyExists\b/.test(err.message)) {
          throw new FsError('EEXIST', `bucket ${bucket} already exists (names are shared by every OSS account: it may be someone else's)`, { cause: err });
        }
        throw err;
      });
  },
};

export default mb;
