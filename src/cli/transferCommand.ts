import type { CommandModule } from 'yargs';
import { type BucketArgs, bucketOptions, type BucketUse, resolveSettings, UsageError } from './options.js';
import { checkPartSize } from '../secure/parts.js';
import { checkDirection, type Direction, transfer } from './transfer.js';

export interface TransferArgs extends BucketArgs {
  src: string;
  dest: string;
  recursive?: boolean;
  'copy-links'?: boolean;
  'part-size'?: string;
}

/** Said by the commands that upload: an interrupted large put resumes. */
const PUT_RESUMES = 'An interrupted put of a large file keeps a checkpoint under the cache dir (never the data key): run the same command again to upload only the missing parts.';
/** Said by the commands that download: an interrupted large get resumes. */
const GET_RESUMES = 'An interrupted get of a large object keeps DEST.ossencfs-part and DEST.ossencfs-checkpoint (never the data key) beside DEST: run the same command again to fetch only the missing ranges.';

const ABOUT: Record<Direction, { describe: string; uses: BucketUse[]; examples: [string, string][]; epilogue?: string }> = {
  get: {
    describe: 'download and decrypt objects to local files (large ones in parallel ranges; an interrupted download resumes)',
    uses: ['decrypt', 'parallel', 'progress', 'cache', 'parts'],
    epilogue: GET_RESUMES,
    examples: [
      ['$0 get oss://vault/scans/2024.pdf ./', 'decrypt one object into the current directory'],
      ['$0 get -r oss://vault/scans ./scans-copy', 'a whole prefix as a directory tree'],
    ],
  },
  put: {
    describe: 'encrypt and upload local files (large files resume after an interruption)',
    uses: ['encrypt', 'parallel', 'progress', 'cache', 'parts'],
    epilogue: PUT_RESUMES,
    examples: [
      ['$0 put ./records.db oss://vault/backup/', 'encrypt to oss://vault/backup/records.db'],
      ['$0 put -r -j 8 ./photos oss://vault/photos', 'a directory tree, 8 files at a time'],
    ],
  },
  cp: {
    describe: 'copy local↔bucket or bucket↔bucket (same bucket: server-side, envelope kept)',
    uses: ['decrypt', 'encrypt', 'parallel', 'progress', 'cache', 'parts'],
    epilogue: `${PUT_RESUMES} ${GET_RESUMES}`,
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
      const b = bucketOptions(y, about.uses)
        .positional('src', { type: 'string', demandOption: true, describe: 'local path or oss://BUCKET/KEY' })
        .positional('dest', { type: 'string', demandOption: true, describe: 'local path or oss://BUCKET/KEY (ending in / = into that directory)' })
        .option('recursive', { alias: 'r', type: 'boolean', describe: 'copy directories / prefixes as trees' });
      // A tree from the local disk keeps its symlinks as symlinks, as the mount stores them.
      if (direction !== 'get') b.option('copy-links', { alias: 'L', type: 'boolean', describe: 'with -r from a local tree: upload what its symlinks point at, not the links' });
      for (const [cmd, text] of about.examples) b.example(cmd, text);
      return about.epilogue ? b.epilogue(about.epilogue) : b;
    },
    handler: async (argv) => {
      const src = dash(argv.src);
      const dest = dash(argv.dest);
      checkDirection(direction, src, dest);
      const settings = resolveSettings(argv);
      try {
        checkPartSize(settings.partSize);
      } catch (err) {
        throw new UsageError(`--part-size: ${(err as Error).message}`);
      }
      await transfer(src, dest, { recursive: argv.recursive ?? false, copyLinks: argv['copy-links'] ?? false, partSize: settings.partSize, settings });
    },
  };
}

/** yargs hands a lone `-` (standard input or output) to a string positional as ''. */
function dash(arg: string): string {
  return arg === '' ? '-' : arg;
}
