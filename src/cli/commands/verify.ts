import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { type BucketArgs, bucketOptions, openBucket, parseOssUrl, resolveSettings } from '../options.js';
import { formatBytes } from '../progress.js';
import { sweep } from '../sweep.js';

interface Args extends BucketArgs {
  url: string;
}

/**
 * Reads every object through: envelope parses, data key unwraps, the whole body decrypts, the
 * plaintext MD5 and length match the headers that carry them. (AES-CTR has no tag: an altered
 * body is only detectable through the MD5 header, which ossencfs always writes.)
 */
const verify: CommandModule<object, Args> = {
  command: 'verify <url>',
  describe: 'check that every object under oss://BUCKET[/PREFIX] decrypts with your keys and matches its MD5/size',
  builder: (y) =>
    bucketOptions(y, ['decrypt', 'parallel', 'progress'])
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX]' })
      .example('$0 verify oss://vault --rsa-key key.pem --decrypt-key old.pem:\'{"key":"v1"}\'', 'everything, with the current and an old key')
      .epilogue(
        'Prints FAIL oss://BUCKET/KEY: REASON per failing object (not encrypted, no key for matdesc, unwrap failed, MD5 mismatch, size mismatch) and a summary; exits 1 if any failed. ' +
          'Directory markers (KEY/ with no body) pass whether or not they carry encryption headers.',
      ),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    const settings = resolveSettings(argv);
    const opened = openBucket(settings, loc.bucket);
    const { counts, objects } = await sweep(opened, loc, settings, { label: 'verify', unit: 'bytes' }, async (object) => {
      const head = await opened.bucket.head(object.key);
      // ossencfs writes its markers encrypted, other tools (ossutil, the console) plain: both are fine.
      if (!head.envelope && object.key.endsWith('/') && head.size === 0) return 'marker';
      let read = 0;
      for await (const chunk of await opened.bucket.get(object.key)) read += (chunk as Buffer).length;
      const expected = head.envelope?.dataSize ?? head.envelope?.unencryptedContentLength;
      if (read !== head.size || (expected !== undefined && expected !== read)) {
        throw new FsError('EIO', `size mismatch: decrypted ${read} bytes, object is ${head.size}${expected === undefined ? '' : `, headers say ${expected}`}`);
      }
      return 'ok';
    });
    const failed = counts.get('failed') ?? 0;
    const total = objects.reduce((s, o) => s + o.size, 0);
    const markers = counts.get('marker') ?? 0;
    process.stdout.write(
      `verified ${objects.length} object(s), ${formatBytes(total)}: ${(counts.get('ok') ?? 0) + markers} ok` +
        `${markers ? ` (${markers} directory marker(s))` : ''}, ${failed} failed\n`,
    );
    if (failed > 0) process.exitCode = 1;
  },
};

export default verify;
