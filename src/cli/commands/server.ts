import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { startServer, type SignaturePolicy } from '../../server/index.js';
import { createKmsEndpoint } from '../../server/kms/index.js';

interface ServerArgs {
  dir: string;
  host: string;
  port: number;
  'access-key-id'?: string;
  'access-key-secret'?: string;
  'kms-create-key': boolean;
  signature: SignaturePolicy;
  'sts-lifetime'?: number;
}

/**
 * `ossencfs server`: the embedded OSS-compatible server, in the foreground until SIGINT/SIGTERM.
 * The same port answers as a KMS endpoint (`--kms-endpoint URL`) for keys kept under DIR/kms.
 */
const command: CommandModule<object, ServerArgs> = {
  command: 'server',
  describe: 'run the local OSS-compatible server storing objects under a directory',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, describe: 'directory holding buckets and objects' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
      .option('port', { type: 'number', default: 0, describe: 'port (0 picks a free one)' })
      .option('access-key-id', { type: 'string', describe: 'accepted AccessKeyId (default $OSS_ACCESS_KEY_ID)' })
      .option('access-key-secret', { type: 'string', describe: 'its secret (default $OSS_ACCESS_KEY_SECRET)' })
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
      }),
  handler: async (args) => {
    const accessKeyId = args['access-key-id'] ?? process.env.OSS_ACCESS_KEY_ID;
    const accessKeySecret = args['access-key-secret'] ?? process.env.OSS_ACCESS_KEY_SECRET;
    if (!accessKeyId || !accessKeySecret) {
      // A missing argument is a usage error (exit 2), not a failed operation.
      process.stderr.write('ossencfs: the server needs credentials: pass --access-key-id and --access-key-secret, or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET\n');
      process.exitCode = 2;
      return;
    }
    const credentials = [{ accessKeyId, accessKeySecret }];
    const kms = createKmsEndpoint({ dir: join(args.dir, 'kms'), credentials });
    if (args['kms-create-key']) process.stdout.write(`kms key ${await kms.createKey()}\n`);
    const server = await startServer({
      dir: args.dir,
      host: args.host,
      port: args.port,
      credentials,
      kms,
      signatures: args.signature,
      ...(args['sts-lifetime'] === undefined ? {} : { stsLifetimeSeconds: args['sts-lifetime'] }),
    });
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
    await server.stop();
  },
};

export default command;
