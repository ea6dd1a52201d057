import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { bucketOnly, isNoSuchBucket, openBuckets } from '../buckets.js';
import { type BucketArgs, bucketOptions, openStore, resolveSettings } from '../options.js';

interface Args extends BucketArgs {
  url: string;
}

/** Removes an empty bucket, as `ossutil rb` does; a bucket with objects is refused, never emptied. */
const rb: CommandModule<object, Args> = {
  command: 'rb <url>',
  describe: 'remove an empty bucket (no key needed)',
  builder: (y) =>
    bucketOptions(y)
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET' })
      .example('$0 rb oss://old-vault', 'remove it once `ossencfs rm -r oss://old-vault/` has emptied it'),
  handler: async (argv) => {
    const bucket = bucketOnly(argv.url);
    const settings = resolveSettings(argv);
    const missing = (err: unknown): FsError =>
      isNoSuchBucket(err) ? new FsError('ENOENT', `bucket ${bucket} does not exist`, { cause: err }) : (err as FsError);
    // OSS refuses a bucket with objects too; asking first names the way to empty it.
    const { objects } = await openStore(settings, bucket)
      .list('', { maxKeys: 1 })
      .catch((err: unknown) => {
        throw missing(err);
      });
    if (objects.length > 0) throw new FsError('ENOTEMPTY', `bucket ${bucket} is not empty — delete its objects first (ossencfs rm -r oss://${bucket}/)`);
    await (await openBuckets(settings))
      .remove(bucket)
      .catch((err: unknown) => {
        if (err instanceof FsError && /\bBucketNotEmpty\b/.test(err.message)) {
          throw new FsError('ENOTEMPTY', `bucket ${bucket} still holds unfinished multipart uploads — ossencfs uploads abort oss://${bucket}`, { cause: err });
        }
        throw missing(err);
      });
  },
};

export default rb;
