import { param, sendEmpty, sendXml, type RequestContext } from '../http/context.js';
import { readSmallBody } from '../http/body.js';
import { parseXml, text } from '../xml.js';
import { invalidArgument } from '../errors.js';
import { LOCATION, OWNER, isoDate } from './owner.js';
import type { BucketRecord } from '../storage/store.js';

function bucketSummary(bucket: BucketRecord) {
  return {
    Name: bucket.name,
    CreationDate: isoDate(bucket.creationDate),
    Location: LOCATION,
    ExtranetEndpoint: `${LOCATION}.aliyuncs.com`,
    IntranetEndpoint: `${LOCATION}-internal.aliyuncs.com`,
    Region: LOCATION.replace(/^oss-/, ''),
    StorageClass: bucket.storageClass,
  };
}

export function listBuckets(ctx: RequestContext): void {
  const prefix = param(ctx, 'prefix') ?? '';
  const marker = param(ctx, 'marker') ?? '';
  const maxKeys = Number(param(ctx, 'max-keys') ?? '1000');
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) throw invalidArgument('max-keys must be between 1 and 1000.', 'max-keys', String(maxKeys));
  const matching = ctx.store.listBuckets().filter((b) => b.name.startsWith(prefix) && b.name > marker);
  const page = matching.slice(0, maxKeys);
  const truncated = matching.length > page.length;
  sendXml(ctx, 'ListAllMyBucketsResult', {
    ...(prefix ? { Prefix: prefix } : {}),
    ...(marker ? { Marker: marker } : {}),
    ...(param(ctx, 'max-keys') ? { MaxKeys: maxKeys, IsTruncated: truncated } : {}),
    ...(truncated ? { NextMarker: page[page.length - 1]!.name } : {}),
    Owner: OWNER,
    Buckets: { Bucket: page.map(bucketSummary) },
  });
}

export async function putBucket(ctx: RequestContext): Promise<void> {
  const body = await readSmallBody(ctx);
  const storageClass = body.trim() === '' ? 'Standard' : text(parseXml(body, 'CreateBucketConfiguration'), 'StorageClass') || 'Standard';
  await ctx.store.createBucket(ctx.bucket, storageClass);
  sendEmpty(ctx, 200, { Location: `/${ctx.bucket}` });
}

export async function deleteBucket(ctx: RequestContext): Promise<void> {
  await ctx.store.deleteBucket(ctx.bucket, async () => (await ctx.multipart.listUploads(ctx.bucket)).length > 0);
  sendEmpty(ctx, 204);
}

export function getBucketInfo(ctx: RequestContext): void {
  const bucket = ctx.store.bucketRecord(ctx.bucket);
  sendXml(ctx, 'BucketInfo', {
    Bucket: {
      ...bucketSummary(bucket),
      Owner: OWNER,
      AccessControlList: { Grant: 'private' },
      DataRedundancyType: 'LRS',
      Versioning: '',
    },
  });
}

export function getBucketLocation(ctx: RequestContext): void {
  ctx.store.bucketRecord(ctx.bucket);
  sendXml(ctx, 'LocationConstraint', LOCATION);
}

export function headBucket(ctx: RequestContext): void {
  ctx.store.bucketRecord(ctx.bucket);
  sendEmpty(ctx, 200);
}
