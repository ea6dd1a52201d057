/**
 * The region a V4 signature is scoped to, as OSS names it (`cn-hangzhou`), from what the user
 * gave or from an OSS endpoint's host: `oss-<region>[-internal].aliyuncs.com`, also with the bucket
 * in front. An accelerate endpoint (`oss-accelerate[-overseas].aliyuncs.com`) names no region.
 */
export function regionOfEndpoint(endpoint: string): string | undefined {
  let host: string;
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  const m = /(?:^|\.)oss-([a-z0-9-]+?)(-internal)?\.aliyuncs\.com$/.exec(host);
  if (!m || m[1]!.startsWith('accelerate')) return undefined;
  return m[1];
}

/** `oss-cn-hangzhou` (the form ali-oss and old configs use) and `cn-hangzhou` alike → `cn-hangzhou`. */
export function normalizeRegion(region: string): string {
  return region.replace(/^oss-/, '');
}

/** The region to sign with: the one given, else the endpoint's; undefined if neither says. */
export function signingRegion(given: string | undefined, endpoint: string): string | undefined {
  return given ? normalizeRegion(given) : regionOfEndpoint(endpoint);
}

/** The one line a user reads when V4 has no region to sign with. */
export function noRegionMessage(endpoint: string): string {
  return `no region to sign requests to ${endpoint} with (V4 signatures are scoped to one) — pass --region, e.g. --region cn-hangzhou (or set OSS_REGION, or region in the config profile)`;
}
