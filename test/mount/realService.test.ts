import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, LOCAL_REGION, startLocalBucket, startServerProcess, type ServerProcess } from '../support/localBucket.js';
import { BIN, mountBucket, withEnv } from '../support/mounted.js';
import { admin, fault } from '../support/serverAdmin.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A mount and the CLI against the bundled server as strict as a bucket made in 2026: V4 signatures only, temporary credentials, a clock checked. */
describe('what a 2026 bucket asks of the mount and the CLI', () => {
  describe('temporary credentials from a credentials URI (--sts-lifetime 15)', () => {
    let dir: string;
    let server: ServerProcess;
    const keys = { accessKeyId: 'STSROOT', accessKeySecret: randomBytes(16).toString('hex') };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ossencfs-sts-'));
      server = await startServerProcess(join(dir, 'server'), keys, 0, ['--sts-lifetime', '15']);
      await new OSS({ ...keys, endpoint: server.url, bucket: 'sts', region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).putBucket('sts');
    });
    afterAll(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a mount whose only credentials come from ALIBABA_CLOUD_CREDENTIALS_URI writes and reads for over three token lifetimes with no error', async () => {
      const keyFile = join(dir, 'key.pem');
      spawnSync(process.execPath, [BIN, 'keygen', '--out', keyFile, '--bits', '2048'], { encoding: 'utf8' });
      const local = { dir, server, bucket: 'sts', credentials: keys, keyFile } as unknown as LocalBucket;
      const m = await mountBucket(local, {
        name: 'sts-mnt',
        args: ['--write-back', '0'],
        env: { OSS_ACCESS_KEY_ID: undefined, OSS_ACCESS_KEY_SECRET: undefined, OSS_REGION: LOCAL_REGION, ALIBABA_CLOUD_CREDENTIALS_URI: `${server.url}/.sts/credentials` },
      });
      try {
        const written = new Map<string, Buffer>();
        const started = Date.now();
        let n = 0;
        // 50 s: every key handed out expires after 15 s, so the mount must renew at least three times.
        while (Date.now() - started < 50_000) {
          const name = `f${n++}.bin`;
          const body = randomBytes(1000 + n);
          writeFileSync(join(m.mountpoint, name), body);
          written.set(name, body);
          const names = [...written.keys()];
          const earlier = names[Math.floor(Math.random() * names.length)]!;
          // A read that reaches the bucket: the kernel's cache of this file is dropped first.
          spawnSync('sh', ['-c', `echo 2 > /proc/sys/vm/drop_caches`]);
          expect(readFileSync(join(m.mountpoint, earlier)).equals(written.get(earlier)!)).toBe(true);
          await sleep(500);
        }
        expect(n).toBeGreaterThan(30);
        // Read back from the bucket, with fresh temporary keys, after the mount is gone.
        await m.unmount();
        const sts = (await (await fetch(`${server.url}/.sts/credentials`)).json()) as { AccessKeyId: string; AccessKeySecret: string; SecurityToken: string };
        const client = new OSS({ accessKeyId: sts.AccessKeyId, accessKeySecret: sts.AccessKeySecret, stsToken: sts.SecurityToken, endpoint: server.url, bucket: 'sts', region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options);
        const listed = await client.list({ 'max-keys': 1000 }, {});
        // Every file, and the directory's index the mount wrote at unmount (src/secure/directoryIndex.ts).
        expect((listed.objects ?? []).map((o) => o.name).sort()).toEqual([...written.keys(), '.ossencfs-index'].sort());
        expect(m.log().split('\n').filter((l) => / (WARN|ERROR) /.test(l))).toEqual([]);
      } finally {
        await m.unmount();
      }
    });
  });

  describe('signatures and the clock', () => {
    let local: LocalBucket;
    beforeAll(async () => {
      local = await startLocalBucket();
    });
    afterAll(async () => local?.close());

    const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
      spawnSync(process.execPath, [BIN, ...args, '--endpoint', local.server.url, '--rsa-key', local.keyFile], {
        encoding: 'utf8',
        env: withEnv({ OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret, ...env }),
      });

    it('every CLI request is signed V4: the server, which refuses V1, takes a round of put, ls, cat, cp, rm; --signature-version 1 is refused by it', async () => {
      const file = join(local.dir, 'v4.txt');
      writeFileSync(file, 'signed V4');
      await admin(local, { action: 'requests', reset: true });
      for (const args of [['put', file, `oss://${local.bucket}/v4/a.txt`], ['ls', '-l', `oss://${local.bucket}/v4/`], ['cat', `oss://${local.bucket}/v4/a.txt`], ['cp', `oss://${local.bucket}/v4/a.txt`, `oss://${local.bucket}/v4/b.txt`], ['rm', `oss://${local.bucket}/v4/a.txt`]]) {
        const r = cli(args);
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      expect(cli(['cat', `oss://${local.bucket}/v4/b.txt`]).stdout).toBe('signed V4');
      const seen = JSON.parse((await admin(local, { action: 'requests' })).body) as { requests: { status: number }[] };
      expect(seen.requests.length).toBeGreaterThan(5);
      expect(seen.requests.filter((r) => r.status === 403)).toEqual([]);

      const v1 = cli(['ls', `oss://${local.bucket}/v4/`, '--signature-version', '1']);
      expect(v1.status).toBe(1);
      expect(v1.stderr.trim().split('\n')).toHaveLength(1);
      expect(v1.stderr).toMatch(/access denied|AccessDenied/i);
    });

    it("a clock 20 minutes off: the CLI and the mount say so in one line naming the minutes", async () => {
      await fault(local, { action: 'clock', offsetMs: 20 * 60_000 });
      try {
        const r = cli(['ls', `oss://${local.bucket}/`]);
        expect(r.status).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/this machine's clock is 20 minutes off/);
        await expect(mountBucket(local, { name: 'skewed' })).rejects.toThrow(/this machine's clock is 20 minutes off/);
      } finally {
        await fault(local, { action: 'clock', offsetMs: 0 });
      }
    });
  });
});
