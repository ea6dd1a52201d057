import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { UsageError } from '../options.js';

interface Args {
  out: string;
  bits: number;
  format: 'pkcs8' | 'pkcs1';
  'key-passphrase-file'?: string;
}

/**
 * Creates an RSA master key pair. The private key file is created with mode 0600 in the same
 * open() that creates it, so there is no moment when it exists with wider permissions.
 */
const keygen: CommandModule<object, Args> = {
  command: 'keygen',
  describe: 'create an RSA master key pair (private key 0600, FILE.pub public key)',
  builder: (y) =>
    y
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'private key file to create; the public key goes to FILE.pub' })
      .option('bits', { type: 'number', choices: [2048, 3072, 4096], default: 3072, describe: 'RSA modulus size' })
      .option('format', { choices: ['pkcs8', 'pkcs1'] as const, default: 'pkcs8' as const, describe: 'private key PEM format (pkcs1 = "RSA PRIVATE KEY")' })
      .option('key-passphrase-file', { type: 'string', describe: 'encrypt the private key with the passphrase in this file (or env OSSENCFS_KEY_PASSPHRASE)' })
      .example('$0 keygen --out ~/.config/ossencfs/master.pem', 'write master.pem (0600) and master.pem.pub')
      .epilogue('Keep a copy of the private key somewhere safe: objects encrypted under it cannot be read without it.'),
  handler: async (argv) => {
    const privatePath = argv.out;
    const publicPath = `${privatePath}.pub`;
    for (const path of [privatePath, publicPath]) {
      if (existsSync(path)) throw new UsageError(`${path} already exists — refusing to overwrite a key; choose another --out`);
    }
    const passphrase = argv['key-passphrase-file']
      ? readFileSync(argv['key-passphrase-file'], 'utf8').replace(/\r?\n$/, '')
      : process.env.OSSENCFS_KEY_PASSPHRASE || undefined;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: argv.bits,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: {
        type: argv.format,
        format: 'pem',
        ...(passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}),
      },
    });
    // `--out ~/.ossencfs/key.pem` on a first run: the directory holds a private key, so it is private too.
    mkdirSync(dirname(privatePath), { recursive: true, mode: 0o700 });
    writeNew(privatePath, privateKey, 0o600);
    try {
      writeNew(publicPath, publicKey, 0o644);
    } catch (err) {
      unlinkSync(privatePath);
      throw err;
    }
    const der = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
    const fingerprint = createHash('sha256').update(der).digest('base64').replace(/=+$/, '');
    process.stdout.write(
      `wrote private key ${privatePath} (mode 600)${passphrase ? ', encrypted with the passphrase' : ''}\n` +
        `wrote public key ${publicPath}\nfingerprint SHA256:${fingerprint}\n`,
    );
  },
};

function writeNew(path: string, data: string, mode: number): void {
  try {
    writeFileSync(path, data, { flag: 'wx', mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FsError(code === 'EEXIST' ? 'EEXIST' : 'EIO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export default keygen;
