import {
  CLIProfileCredentialsProvider,
  DefaultCredentialsProvider,
  ECSRAMRoleCredentialsProvider,
  EnvironmentVariableCredentialsProvider,
  OIDCRoleArnCredentialsProvider,
  ProfileCredentialsProvider,
  URICredentialsProvider,
} from '@alicloud/credentials';
import { FsError } from '../errors.js';
import { RENEW_MAX_MARGIN_MS, RENEW_MIN_MARGIN_MS, RENEW_RETRY_MS } from '../tuning.js';

/** An access key, with its STS token when it is a temporary one. */
export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/**
 * Where the store gets the credentials it signs each request with. Asked once per request (and
 * per try): an implementation answers from memory while what it holds is good.
 */
export interface CredentialProvider {
  /** Credentials good for a request sent now. */
  current(): Promise<Credentials>;
  /**
   * `used` was refused by the server as expired or unknown: get newer ones. True when there are
   * (the request is worth signing again), false when the source has nothing newer to give.
   */
  renew(used: Credentials): Promise<boolean>;
}

/** Keys given once (environment, profile): never change, so nothing to renew. */
export function staticCredentials(credentials: Credentials): CredentialProvider {
  const held = Promise.resolve(credentials);
  return { current: () => held, renew: async () => false };
}

/** The names `--credential-source` takes, each one provider of `@alicloud/credentials`. */
export const CREDENTIAL_SOURCES = ['default', 'env', 'ini', 'cli', 'ecs-ram-role', 'oidc', 'uri'] as const;
export type CredentialSource = (typeof CREDENTIAL_SOURCES)[number];

/** What this module uses of a provider of `@alicloud/credentials`. */
interface LibraryProvider {
  getCredentials(): Promise<{ accessKeyId: string; accessKeySecret: string; securityToken?: string }>;
}

function libraryProvider(source: CredentialSource): LibraryProvider {
  switch (source) {
    case 'default': return DefaultCredentialsProvider.builder().build();
    case 'env': return EnvironmentVariableCredentialsProvider.builder().build();
    case 'ini': return ProfileCredentialsProvider.builder().build();
    case 'cli': return CLIProfileCredentialsProvider.builder().build();
    case 'ecs-ram-role': return ECSRAMRoleCredentialsProvider.builder().build();
    case 'oidc': return OIDCRoleArnCredentialsProvider.builder().build();
    case 'uri':
      // The library would take an empty URI and fail later with a message that does not say why.
      if (!process.env.ALIBABA_CLOUD_CREDENTIALS_URI) throw new Error('ALIBABA_CLOUD_CREDENTIALS_URI is not set');
      return URICredentialsProvider.builder().build();
  }
}

/**
 * When the credentials a provider last gave expire, if they do. The library's Credentials carry
 * no expiry; its session providers (ECS role, OIDC, URI) keep the one they were given on
 * `session`, and the default chain keeps the provider that answered on `lastUsedProvider`.
 */
function expiryOf(provider: LibraryProvider): number | undefined {
  type Inner = { session?: { expiration?: string }; lastUsedProvider?: Inner };
  const inner = provider as Inner;
  const expiration = (inner.lastUsedProvider ?? inner).session?.expiration;
  const at = expiration ? Date.parse(expiration) : NaN;
  return Number.isNaN(at) ? undefined : at;
}

interface Held {
  credentials: Credentials;
  /** Absent for credentials that do not expire. */
  expiresAt?: number;
  /** From here on a request starts a renewal (and still signs with these while it runs). */
  renewAt?: number;
}

/**
 * Credentials from `@alicloud/credentials` (the chain or one named source), renewed before they
 * expire: from a third of their lifetime before expiry (at most 10 minutes before) the next
 * request starts one renewal in the background and signs with the old ones, still good; only a
 * request that finds none good waits. Renewals are shared: a burst of requests fetches once.
 */
export class RefreshingCredentials implements CredentialProvider {
  private held: Held | undefined;
  private renewing: Promise<Held> | undefined;
  private quietUntil = 0;

  constructor(
    private readonly provider: LibraryProvider,
    /** Where from: another thread makes its own provider of the same source. */
    readonly source: CredentialSource,
  ) {}

  static from(source: CredentialSource): RefreshingCredentials {
    let provider: LibraryProvider;
    try {
      provider = libraryProvider(source);
    } catch (err) {
      throw new FsError('EACCES', `credential source ${source}: ${(err as Error).message}`, { cause: err });
    }
    return new RefreshingCredentials(provider, source);
  }

  async current(): Promise<Credentials> {
    const held = this.held;
    const now = Date.now();
    if (held && (held.renewAt === undefined || now < held.renewAt)) return held.credentials;
    if (held && now < held.expiresAt! - RENEW_MIN_MARGIN_MS) {
      if (now >= this.quietUntil) {
        this.renew$().catch(() => {
          this.quietUntil = Date.now() + RENEW_RETRY_MS;
        });
      }
      return held.credentials;
    }
    return (await this.renew$()).credentials;
  }

  async renew(used: Credentials): Promise<boolean> {
    const held = this.held;
    if (held && !sameCredentials(held.credentials, used)) return true;
    const fresh = await this.renew$();
    return !sameCredentials(fresh.credentials, used);
  }

  private renew$(): Promise<Held> {
    this.renewing ??= this.fetch().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async fetch(): Promise<Held> {
    let got: Awaited<ReturnType<LibraryProvider['getCredentials']>>;
    try {
      got = await this.provider.getCredentials();
    } catch (err) {
      throw new FsError('EACCES', `no credentials from ${this.source === 'default' ? 'the default credential chain' : `credential source ${this.source}`}: ${(err as Error).message}`, { cause: err });
    }
    const credentials: Credentials = {
      accessKeyId: got.accessKeyId,
      accessKeySecret: got.accessKeySecret,
      ...(got.securityToken ? { securityToken: got.securityToken } : {}),
    };
    const expiresAt = expiryOf(this.provider);
    const held: Held = { credentials };
    if (expiresAt !== undefined) {
      const margin = Math.min(RENEW_MAX_MARGIN_MS, Math.max(RENEW_MIN_MARGIN_MS, (expiresAt - Date.now()) / 3));
      held.expiresAt = expiresAt;
      held.renewAt = expiresAt - margin;
    }
    this.held = held;
    return held;
  }
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return a.accessKeyId === b.accessKeyId && a.accessKeySecret === b.accessKeySecret && a.securityToken === b.securityToken;
}
