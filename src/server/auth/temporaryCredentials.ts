import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { ServerCredentials } from './credentials.js';
import { STS_FORGET_AFTER_MS, STS_KEYS_KEPT } from '../../tuning.js';

export interface IssuedCredentials extends Required<ServerCredentials> {
  /** Milliseconds since the epoch on the server's clock. */
  expiresAt: number;
}


/** Temporary credentials, as STS hands out: each a fresh key, secret and token valid for a lifetime. */
export class TemporaryCredentials {
  private readonly issued = new Map<string, IssuedCredentials>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly clock: Clock,
  ) {}

  issue(): IssuedCredentials {
    this.forgetOld();
    const credentials: IssuedCredentials = {
      accessKeyId: `STS.${randomBytes(12).toString('hex')}`,
      accessKeySecret: randomBytes(24).toString('base64url'),
      securityToken: randomBytes(48).toString('base64url'),
      expiresAt: this.clock.now() + this.lifetimeMs,
    };
    this.issued.set(credentials.accessKeyId, credentials);
    return credentials;
  }

  find(accessKeyId: string): IssuedCredentials | undefined {
    return this.issued.get(accessKeyId);
  }

  /** Sweeps keys long expired, then the oldest issued while over the cap (a map keeps insertion order). */
  private forgetOld(): void {
    const before = this.clock.now() - STS_FORGET_AFTER_MS;
    for (const [id, issued] of this.issued) if (issued.expiresAt < before) this.issued.delete(id);
    for (const id of this.issued.keys()) {
      if (this.issued.size < STS_KEYS_KEPT) break;
      this.issued.delete(id);
    }
  }
}
