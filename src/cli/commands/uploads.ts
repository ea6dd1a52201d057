import type { CommandModule } from 'yargs';
import { printable } from '../../util/printable.js';
import { objectError } from '../listing.js';
import { type BucketArgs, bucketOptions, openStore, ossUrl, parseOssUrl, resolveSettings } from '../options.js';

interface Args extends BucketArgs {
  action: 'list' | 'abort';
  url: string;
}

/**
 * Unfinished multipart uploads keep their parts (and cost storage) until aborted. An interrupted
 * `put` resumes its own; this shows and clears everyone's.
 */
const uploads: CommandModule<object, Args> = {
  command: 'uploads <action> <url>',
  describe: 'list or abort unfinished multipart uploads under oss://BUCKET[/PREFIX] (no key needed)',
  builder: (y) =>
    bucketOptions(y, ['progress'])
      .positional('action', { choices: ['list', 'abort'] as const, demandOption: true, describe: 'list them, or abort them all' })
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX]' })
      .example('$0 uploads list oss://vault', 'key, upload id, start time of each')
      .example('$0 uploads abort oss://vault/backup/', 'free the parts of every unfinished upload there')
      .epilogue('Aborting an upload that a `put` checkpoint refers to makes that put start over next time.'),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    const settings = resolveSettings(argv);
    const store = openStore(settings, loc.bucket);
    const found = await store.listMultipartUploads(loc.prefix).catch((err: unknown) => {
      throw objectError(err, loc.bucket, loc.prefix);
    });
    if (argv.action === 'list') {
      for (const u of found) process.stdout.write(`${u.initiated.toISOString()}  ${u.uploadId}  ${printable(ossUrl(loc.bucket, u.key))}\n`);
      return;
    }
    for (const u of found) {
      await store.abortMultipart(u.key, u.uploadId).catch((err: unknown) => {
        throw objectError(err, loc.bucket, u.key);
      });
    }
    if (!settings.quiet) process.stderr.write(`aborted ${found.length} upload(s)\n`);
  },
};

export default uploads;
