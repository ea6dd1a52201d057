import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import { FAST_RETRY, LOCAL_REGION, startHarness, type Harness } from './harness.js';
import { ossErrorXml } from './httpRelay.js';

// What a user reads when OSS refuses: one line that says what to do.

let h: Harness;
beforeAll(async () => {
  h = await startHarness('error-lines');
});
afterAll(async () => {
  await h?.close();
});

/** An HTTP server answering every request with `answer`, counting them. */
async function scripted(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const storeAt = (endpoint: string) => createOssStore({ endpoint, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY });

describe('error lines', () => {
  it('RequestTimeTooSkewed names by how much this clock is off, from the answer\'s Date or the XML\'s ServerTime', async () => {
    const skewed = ossErrorXml('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    const serverAhead = await scripted((_req, res) => {
      // The server's clock 20 minutes ahead of ours: this machine is behind.
      res.writeHead(403, { Date: new Date(Date.now() + 20 * 60_000).toUTCString(), 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(skewed) });
      res.end(skewed);
    });
    const withServerTime = ossErrorXml('RequestTimeTooSkewed', 'too skewed', `<RequestTime>x</RequestTime><ServerTime>${new Date(Date.now() - 47 * 60_000).toISOString()}</ServerTime>`);
    const serverBehind = await scripted((_req, res) => {
      res.writeHead(403, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(withServerTime) });
      res.end(withServerTime);
    });
    try {
      const a = (await storeAt(serverAhead.url).put('k', Buffer.from('x'), { meta: {} }).catch((e: unknown) => e)) as Error;
      expect(a).toMatchObject({ errno: 'EACCES' });
      expect(a.message).toMatch(/^PUT error-lines\/k: .*this machine's clock is 20 minutes off \(behind the server's\)/);
      expect(a.message).not.toContain('\n');
      expect(serverAhead.requests()).toBe(1); // not retried: the clock stays wrong
      const b = (await storeAt(serverBehind.url).list('').catch((e: unknown) => e)) as Error;
      expect(b.message).toMatch(/this machine's clock is 47 minutes off \(ahead of the server's\)/);
    } finally {
      await serverAhead.close();
      await serverBehind.close();
    }
  });

  it('a HEAD refused with a bare 403 says access denied and what to check, never UnknownError', async () => {
    const bare = await scripted((_req, res) => {
      res.writeHead(403, { 'Content-Length': '0' });
      res.end();
    });
    try {
      const err = (await storeAt(bare.url).head('secret').catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ errno: 'EACCES' });
      expect(err.message).toBe("HEAD error-lines/secret: AccessDenied (HTTP 403): access denied: check the access key secret and the bucket's policy");
      expect(err.message).not.toMatch(/Unknown/i);
    } finally {
      await bare.close();
    }
    // The real server's answer to a wrong secret, on a HEAD.
    const wrong = createOssStore({ endpoint: h.server.url, bucket: h.bucket, region: LOCAL_REGION, accessKeyId: h.credentials.accessKeyId, accessKeySecret: 'wrong', retry: FAST_RETRY });
    const err = (await wrong.head('anything').catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ errno: 'EACCES' });
    expect(err.message).not.toMatch(/Unknown/i);
  });
});

describe('a GET body its reader stops early', () => {
  it('lets go of its connection at once (no wait for the server to time the connection out)', { timeout: 15_000 }, async () => {
    await h.store.put('big', Buffer.alloc(8 * 1024 * 1024, 7), { meta: {} });
    // A TCP relay that reports when the client has no connection left open.
    const closed: Array<() => void> = [];
    let open = 0;
    const sockets = new Set<Socket>();
    const relay = createTcpServer((client) => {
      open++;
      const upstream = connect(h.server.port, h.server.host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on('close', () => {
        open--;
        upstream.destroy();
        if (open === 0) closed.splice(0).forEach((f) => f());
      });
      client.on('error', () => undefined);
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const store = storeAt(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
      const { body } = await store.get('big');
      await new Promise<void>((resolve) => body.once('readable', () => resolve()));
      expect(body.read(16)).not.toBeNull(); // the first bytes, as a reader checking a header would take them
      expect(open).toBe(1);
      const gone = new Promise<void>((resolve) => closed.push(resolve));
      body.destroy(); // the reader found what it needed to stop
      await gone; // the test times out if the connection is held
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });
});
