import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/store/credentials.js';
import { type Query, Signer } from '../../src/store/signing.js';

// The V4 signer keeps its signing key between requests; every signature must still be the one
// ali-oss's own authorizationV4 makes for the same request, credentials and second.

const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils.js') as {
  authorizationV4(id: string, secret: string, region: string, method: string, request: { headers: Record<string, string>; queries: Query }, bucket: string, key: string): string;
};

const REGION = 'cn-hangzhou';
const BUCKET = 'signing';

function bothWays(signer: Signer, method: string, key: string, query: Query, given: Record<string, string>, credentials: Credentials, now: Date): { ours: string; aliOss: string } {
  const headers = { ...given };
  signer.sign({ method, key, query, headers }, credentials, now);
  const { authorization: ours, ...signed } = headers;
  const aliOss = signUtils.authorizationV4(credentials.accessKeyId, credentials.accessKeySecret, REGION, method, { headers: signed, queries: query }, BUCKET, key);
  return { ours: ours!, aliOss };
}

describe('V4 signer', () => {
  it('signs as ali-oss does across requests, days, secrets and tokens, with its signing key kept', () => {
    const signer = new Signer(BUCKET, 4, REGION);
    const first: Credentials = { accessKeyId: 'id-1', accessKeySecret: 'secret-1' };
    const renewed: Credentials = { accessKeyId: 'id-2', accessKeySecret: 'secret-2', securityToken: 'token-2' };
    const sameIdNewSecret: Credentials = { accessKeyId: 'id-2', accessKeySecret: 'secret-3', securityToken: 'token-3' };
    const requests: [string, string, Query, Record<string, string>][] = [
      ['HEAD', 'dir/file name', {}, {}],
      ['GET', 'a/b', {}, { range: 'bytes=0-99', 'if-match': '"e"' }],
      ['PUT', 'ü/(x)*', { partNumber: '3', uploadId: 'u' }, { 'content-type': 'application/octet-stream', 'content-md5': 'abc==', 'x-oss-meta-mode': '33188' }],
      ['POST', '', { delete: null }, { 'content-type': 'application/xml' }],
      ['GET', '', { prefix: 'p/', 'max-keys': '1000', 'encoding-type': 'url', marker: 'p/é' }, {}],
    ];
    const times = [new Date('2026-12-06T23:59:59Z'), new Date('2026-12-07T00:00:00Z'), new Date('2026-12-07T10:00:00Z'), new Date('2026-12-06T12:00:00Z')];
    const seen = new Set<string>();
    for (const now of times) {
      for (const credentials of [first, renewed, sameIdNewSecret, first]) {
        for (const [method, key, query, headers] of requests) {
          const { ours, aliOss } = bothWays(signer, method, key, query, headers, credentials, now);
          expect(ours).toBe(aliOss);
          seen.add(ours);
        }
      }
    }
    // Every (time, secret, request) signs differently but the repeats of `first`.
    expect(seen.size).toBe(times.length * 3 * requests.length);
  });
});
