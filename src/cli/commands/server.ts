import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { startServer, type SignaturePolicy } from '../../server/index.js';
import { createKmsEndpoint } from '../../server/kms/index.js';
import { enableCollections } from '../../util/collector.js';
import { lockDataDir } from '../dataDirLock.js';
import { announceServer, embeddedDataDir, localCredentials } from '../embedded.js';
import { envCredentials } from '../options.js';

interface ServerArgs {
  dir?: string;
  host: string;
  port: number;
  'kms-create-key': boolean;
  signature: SignaturePolicy;
  'sts-lifetime'?: number;
}

/**
 * `ossencfs server`: the embedded OSS-compatible server, in the foreground until SIGINT/SIGTERM.
 * The same port answers as a KMS endpoint (`--kms-endpoint URL`) for keys kept under DIR/kms.
 * Its access key comes from OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, else from a file it makes
 * (0600) in its directory, as the embedded default's: never from a flag, never printed.
 */
const command: CommandModule<object, ServerArgs> = {
  command: 'server',
  describe: 'run the local OSS-compatible server storing objects under a directory (default: the embedded default\'s)',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', describe: 'directory holding buckets and objects (default: the embedded default\'s data, which the CLI then reaches without an endpoint)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
      .option('port', { type: 'number', default: 0, describe: 'port (0 picks a free one)' })
      .option('signature', {
        choices: ['v4', 'any'] as const,
        default: 'v4' as const,
        describe: 'signatures accepted: v4 only (as a bucket made today), or any (V1 too, for old deployments)',
      })
      .option('sts-lifetime', {
        type: 'number',
        describe: 'also hand out temporary credentials valid SECONDS at GET /.sts/credentials (loopback only; the format ALIBABA_CLOUD_CREDENTIALS_URI reads)',
      })
      .check((argv) => {
        const lifetime = argv['sts-lifetime'];
        if (lifetime !== undefined && !(Number.isInteger(lifetime) && lifetime > 0)) throw new Error('--sts-lifetime must be a positive whole number of seconds');
        return true;
      })
      .option('kms-create-key', {
        type: 'boolean',
        default: false,
        describe: 'create a KMS key first and print its id (the server is also a KMS endpoint: --kms-endpoint URL)',
      })
      .example('$0 server --dir ./oss-data --port 9000', 'a scratch server; its access key is in ./oss-data/server-credentials.json')
      .epilogue('The access key it accepts: OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET when both are set, else DIR/server-credentials.json (made on first use, mode 600).'),
  handler: async (args) => {
    // Hashed body chunks are freed by scavenges asked for (util/collector.ts), not left to V8's schedule.
    enableCollections();
    // Without --dir: the embedded default's data, held as a mount of it holds it.
    const dataDir = args.dir ?? embeddedDataDir();
    const release = args.dir === undefined ? lockDataDir(dataDir, undefined) : () => {};
    try {
      const { accessKeyId, accessKeySecret } = envCredentials(process.env) ?? generated(dataDir);
      const credentials = [{ accessKeyId, accessKeySecret }];
      const serverDir = args.dir ?? join(dataDir, 'server');
      const kms = createKmsEndpoint({ dir: join(serverDir, 'kms'), credentials });
      if (args['kms-create-key']) process.stdout.write(`kms key ${await kms.createKey()}\n`);
      const server = await startServer({
        dir: serverDir,
        host: args.host,
        port: args.port,
        credentials,
        kms,
        signatures: args.signature,
        ...(args['sts-lifetime'] === undefined ? {} : { stsLifetimeSeconds: args['sts-lifetime'] }),
      });
      const withdraw = args.dir === undefined ? announceServer(dataDir, server.url) : () => {};
      if (server.stsUrl) process.stdout.write(`sts credentials at ${server.stsUrl}\n`);
      process.stdout.write(`listening on ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      withdraw();
      await server.stop();
    } finally {
      release();
    }
  },
};

/** The access key of DIR's credentials file (made now if missing): its id and where it is are said, never its secret. */
function generated(dir: string): { accessKeyId: string; accessKeySecret: string } {
  const { file, credentials, created } = localCredentials(dir);
  process.stdout.write(`access key ${credentials.accessKeyId}: ${created ? 'created ' : ''}${file} (mode 600) holds it and its secret\n`);
  return credentials;
}

export default command;
