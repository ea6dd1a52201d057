import type { CommandModule } from 'yargs';
import { parseSize } from '../util/size.js';
import { type BucketArgs, bucketOptions, resolveSettings, UsageError } from './options.js';
import { checkPartSize, DEFAULT_PART_SIZE } from './resumablePut.js';
import { checkDirection, type Direction, transfer } from './transfer.js';

export interface TransferArgs extends BucketArgs {
  src: string;
  dest: string;
  recursive?: boolean;
  'part-size'?: string;
}

const ABOUT: Record<Direction, { describe: string; examples: [string, string][] }> = {
  get: {
    describe: 'download and decrypt objects to local files (large ones in parallel ranges; an interrupted download resumes)',
    examples: [
      ['$0 get oss://vault/scans/2024.pdf ./', 'decrypt one object into the current directory'],
      ['$0 get -r oss://vault/scans ./scans-copy', 'a whole prefix as a directory tree'],
    ],
  },
  put: {
    describe: 'encrypt and upload local files (large files resume after an interruption)',
    examples: [
      ['$0 put ./records.db oss://vault/backup/', 'encrypt to oss://vault/backup/records.db'],
      ['$0 put -r -j 8 ./photos oss://vault/photos', 'a directory tree, 8 files at a time'],
    ],
  },
  cp: {
    describe: 'copy local↔bucket or bucket↔bucket (same bucket: server-side, envelope kept)',
    examples: [
      ['$0 cp oss://vault/a.txt oss://vault/archive/a.txt', 'server-side copy; nothing is re-encrypted'],
      ['$0 cp -r ./docs oss://vault/docs', 'same as put -r'],
    ],
  },
};

/** get, put and cp share everything but the direction they accept. */
export function transferCommand(direction: Direction): CommandModule<object, TransferArgs> {
  const about = ABOUT[direction];
  return {
    command: `${direction} <src> <dest>`,
    describe: about.describe,
    builder: (y) => {
      const b = bucketOptions(y)
        .positional('src', { type: 'string', demandOption: true, describe: 'local path or oss://BUCKET/KEY' })
        .positional('dest', { type: 'string', demandOption: true, describe: 'local path or oss://BUCKET/KEY (ending in / = into that directory)' })
        .option('recursive', { alias: 'r', type: 'boolean', describe: 'copy directories / prefixes as trees' })
        .option('part-size', { type: 'string', describe: 'part size (and download range) for files above it (multiple of 16, ≥100K; default 8M)' });
      for (const [cmd, text] of about.examples) b.example(cmd, text);
      return b.epilogue(
        'An interrupted put of a large file keeps a checkpoint under the cache dir (never the data key); an interrupted get keeps DEST.ossencfs-part and DEST.ossencfs-checkpoint beside DEST. Run the same command again to move only the missing parts.',
      );
    },
    handler: async (argv) => {
      const src = dash(argv.src);
      const dest = dash(argv.dest);
      checkDirection(direction, src, dest);
      let partSize = DEFAULT_PART_SIZE;
      if (argv['part-size'] !== undefined) {
        try {
          partSize = parseSize(argv['part-size']);
          checkPartSize(partSize);
        } catch (err) {
          throw new UsageError(`--part-size: ${(err as Error).message}`);
        }
      }
      await transfer(src, dest, { recursive: argv.recursive ?? false, partSize, settings: resolveSettings(argv) });
    },
  };
}

/** yargs hands a lone `-` (standard input or output) to a string positional as ''. */
function dash(arg: string): string {
  return arg === '' ? '-' : arg;
}
