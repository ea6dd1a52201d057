import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN, type Mounted, mountBucket, sh } from '../support/mounted.js';
import { encryptedBucket, plaintextOf, type Proxy, q, sha256, shAsync, sleep, startProxy, until } from './support.js';

const MiB = 1024 * 1024;

/** Total bytes of the files below `dir` (0 when it does not exist yet). */
function bytesBelow(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
  } catch {
    return 0;
  }
}

/**
 * A link that goes silent — no reset, no FIN, as when Wi-Fi drops or a NAT forgets a connection —
 * simulated by a proxy process between the mount (or the CLI) and the server. Without an idle
 * timeout on GET bodies, a read caught mid-body by such a drop waited forever (the CLI's cat was
 * still waiting after 250 s); the store now gives up on a body silent for 30 s and resumes it from
 * the byte where it stopped, on a new connection.
 */
describe('reliability: a silent network', () => {
  let local: LocalBucket;
  let proxy: Proxy;
  let m: Mounted;
  let bucket: EncryptedBucket;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    local = await startLocalBucket();
    proxy = await startProxy(local.server.url);
    bucket = encryptedBucket(local);
    m = await mountBucket({ ...local, server: { ...local.server, url: proxy.url } }, { name: 'net' });
  });

  afterAll(async () => {
    console.log(`timings (s): ${JSON.stringify(timings)}`);
    await proxy?.command('heal');
    await m?.unmount();
    await proxy?.stop();
    await local?.close();
  });

  it('CLI cat: the connection goes silent mid-body → the body resumes on a new connection, exact bytes', async () => {
    const data = randomBytes(24 * MiB);
    await bucket.put('cli.bin', data);
    // 8 MiB/s: the body is still on the wire when the link drops.
    await proxy.command(`throttle ${8 * MiB}`);
    const cli = `${q(process.execPath)} ${q(BIN)} cat oss://${local.bucket}/cli.bin --endpoint ${proxy.url} --rsa-key ${q(local.keyFile)}`;
    const run = shAsync(
      `export OSS_ACCESS_KEY_ID=${q(local.credentials.accessKeyId)} OSS_ACCESS_KEY_SECRET=${q(local.credentials.accessKeySecret)}; ` +
        `set -o pipefail; timeout 200 ${cli} | sha256sum`,
    );
    await sleep(1000);
    expect(await proxy.command('freeze')).toBe('ok freeze');
    await proxy.command('throttle 0');
    const r = await run;
    timings['CLI cat resumed after a silent drop'] = Number(r.seconds.toFixed(2));
    expect(r.status).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(sha256(data));
    expect(r.seconds).toBeLessThan(100);
  });

  it('mount: an in-place edit whose download (staging) goes silent mid-body completes with the right content', async () => {
    const data = randomBytes(128 * MiB);
    await bucket.put('edit.bin', data);
    const staging = join(local.dir, 'net-cache', 'mounts');
    // The first write in the middle stages the whole file: one long GET.
    const edit = shAsync(
      `timeout 200 python3 -c "import os; fd = os.open('${m.mountpoint}/edit.bin', os.O_RDWR); os.pwrite(fd, b'EDITED', 1000); os.close(fd)"`,
    );
    await until('the staging download to start', () => bytesBelow(staging) > 8 * MiB, 60);
    expect(await proxy.command('freeze')).toBe('ok freeze');
    const r = await edit;
    timings['mount staging resumed after a silent drop'] = Number(r.seconds.toFixed(2));
    expect(r.status, r.stderr).toBe(0);
    expect(r.seconds).toBeLessThan(100);
    const expected = Buffer.from(data);
    expected.write('EDITED', 1000);
    expect(sha256(await plaintextOf(bucket, 'edit.bin'))).toBe(sha256(expected));
  }, 180_000); // its own bounds (60 s for the download to start, 100 s for the edit) exceed the default 60 s

  it('a full partition (every connection silent): ls and cat fail with ETIMEDOUT in ~30 s; healed, the mount works again', async () => {
    await bucket.put('part/a.txt', Buffer.from('a\n'));
    const data = randomBytes(100_000);
    await bucket.put('part.bin', data);
    await sleep(1200);
    expect(await proxy.command('blackhole')).toBe('ok blackhole');
    let ls, cat;
    try {
      // One at a time: libfuse2 serialises lookups in one directory, so side by side they would queue.
      ls = await shAsync(`timeout 200 ls ${m.mountpoint}/part`);
      cat = await shAsync(`timeout 200 cat ${m.mountpoint}/part.bin > /dev/null`);
    } finally {
      await proxy.command('heal');
    }
    timings['partition: ls'] = Number(ls.seconds.toFixed(2));
    timings['partition: cat'] = Number(cat.seconds.toFixed(2));
    for (const r of [ls, cat]) {
      expect(r.status).not.toBe(0);
      expect(r.status).not.toBe(124);
      expect(r.stderr).toMatch(/Connection timed out/);
      expect(r.seconds).toBeLessThan(45);
    }
    expect(sh(`ls ${m.mountpoint}/part`)).toBe('a.txt\n');
    expect(sh(`cat ${m.mountpoint}/part.bin | sha256sum`).split(' ')[0]).toBe(sha256(data));
    writeFileSync(join(m.mountpoint, 'after.txt'), 'after\n');
    expect(readFileSync(join(m.mountpoint, 'after.txt'), 'utf8')).toBe('after\n');
  }, 200_000);
});
