import { invalidArgument } from '../errors.js';
import { param, sendXml, type RequestContext } from '../http/context.js';
import type { IndexEntry, ListPage } from '../storage/keyIndex.js';
import { OWNER, isoDate } from './owner.js';

interface ListParams {
  prefix: string;
  delimiter: string;
  maxKeys: number;
  encode: (text: string) => string;
  encodingType: string | undefined;
}

function listParams(ctx: RequestContext): ListParams {
  const raw = param(ctx, 'max-keys');
  const maxKeys = raw === undefined || raw === '' ? 100 : Number(raw);
  if (!Number.isInteger(maxKeys) || maxKeys < 0 || maxKeys > 1000) {
    throw invalidArgument('Argument max-keys must be an integer between 0 and 1000.', 'max-keys', raw);
  }
  const encodingType = param(ctx, 'encoding-type') || undefined;
  if (encodingType !== undefined && encodingType !== 'url') throw invalidArgument('Invalid Encoding Method specified in Request.', 'encoding-type', encodingType);
  return {
    prefix: param(ctx, 'prefix') ?? '',
    delimiter: param(ctx, 'delimiter') ?? '',
    maxKeys,
    encode: encodingType ? (t) => encodeURIComponent(t) : (t) => t,
    encodingType,
  };
}

function contents(page: ListPage, p: ListParams, withOwner: boolean) {
  return page.objects.map((o: IndexEntry) => ({
    Key: p.encode(o.key),
    LastModified: isoDate(o.lastModified),
    ETag: o.etag,
    Type: o.type,
    Size: o.size,
    StorageClass: 'Standard',
    ...(withOwner ? { Owner: OWNER } : {}),
  }));
}

function commonPrefixes(page: ListPage, p: ListParams) {
  return page.prefixes.map((prefix) => ({ Prefix: p.encode(prefix) }));
}

/** ListObjects (V1): marker / NextMarker paging. */
export function listObjects(ctx: RequestContext): void {
  const p = listParams(ctx);
  const marker = param(ctx, 'marker') ?? '';
  const page = ctx.store.index(ctx.bucket).list({ prefix: p.prefix, delimiter: p.delimiter, after: marker, maxKeys: p.maxKeys });
  sendXml(ctx, 'ListBucketResult', {
    Name: ctx.bucket,
    Prefix: p.encode(p.prefix),
    Marker: p.encode(marker),
    MaxKeys: p.maxKeys,
    Delimiter: p.encode(p.delimiter),
    ...(p.encodingType ? { EncodingType: p.encodingType } : {}),
    IsTruncated: page.truncated,
    ...(page.truncated ? { NextMarker: p.encode(page.last) } : {}),
    Contents: contents(page, p, true),
    CommonPrefixes: commonPrefixes(page, p),
  });
}

/** The opaque V2 continuation token: the last key returned, so it survives restarts. */
const toToken = (key: string): string => Buffer.from(key).toString('base64url');

function fromToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString();
  if (toToken(key) !== token) throw invalidArgument('The continuation token provided is incorrect.', 'continuation-token', token);
  return key;
}

/** ListObjectsV2 (`list-type=2`): continuation-token, start-after, fetch-owner, KeyCount. */
export function listObjectsV2(ctx: RequestContext): void {
  const p = listParams(ctx);
  const startAfter = param(ctx, 'start-after') ?? '';
  const token = param(ctx, 'continuation-token');
  const after = token ? fromToken(token) : startAfter;
  const page = ctx.store.index(ctx.bucket).list({ prefix: p.prefix, delimiter: p.delimiter, after, maxKeys: p.maxKeys });
  sendXml(ctx, 'ListBucketResult', {
    Name: ctx.bucket,
    Prefix: p.encode(p.prefix),
    ...(startAfter ? { StartAfter: p.encode(startAfter) } : {}),
    ...(token ? { ContinuationToken: token } : {}),
    MaxKeys: p.maxKeys,
    Delimiter: p.encode(p.delimiter),
    ...(p.encodingType ? { EncodingType: p.encodingType } : {}),
    IsTruncated: page.truncated,
    ...(page.truncated ? { NextContinuationToken: toToken(page.last) } : {}),
    KeyCount: page.objects.length + page.prefixes.length,
    Contents: contents(page, p, param(ctx, 'fetch-owner') === 'true'),
    CommonPrefixes: commonPrefixes(page, p),
  });
}
