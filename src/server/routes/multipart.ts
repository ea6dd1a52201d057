import { Readable } from 'node:stream';
import { OssError, invalidArgument, malformedXml } from '../errors.js';
import { checkMd5, declaredLength, expectedMd5, readSmallBody } from '../http/body.js';
import { param, sendEmpty, sendXml, type RequestContext } from '../http/context.js';
import {
  checkEncryptedComplete, checkEncryptedPartCopy, encryptedLayout, expectedPartLength, wrongPartLength,
} from '../http/clientEncryption.js';
import { objectHeadersOf } from '../http/objectHeaders.js';
import { validateKey } from '../http/objectName.js';
import { parseRange } from '../http/range.js';
import { readPieces } from '../storage/dataFiles.js';
import { receiveBody } from '../storage/files.js';
import { MAX_PART_NUMBER, type UploadRecord } from '../storage/multipartStore.js';
import { children, parseXml, text } from '../xml.js';
import { isoDate } from './owner.js';
import { withCopySource } from './objects.js';

const MAX_PART_SIZE = 5 * 1024 ** 3;

async function upload(ctx: RequestContext): Promise<UploadRecord> {
  validateKey(ctx.key);
  return ctx.multipart.get(ctx.bucket, ctx.key, param(ctx, 'uploadId') ?? '');
}

function partNumber(ctx: RequestContext): number {
  const raw = param(ctx, 'partNumber') ?? '';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PART_NUMBER) {
    throw invalidArgument(`Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive.`, 'partNumber', raw);
  }
  return n;
}

function integerParam(ctx: RequestContext, name: string, fallback: number, max: number): number {
  const raw = param(ctx, name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw invalidArgument(`${name} must be an integer between 0 and ${max}.`, name, raw);
  return n;
}

/** The initiate request's headers and metadata become the completed object's. */
export async function initiateMultipartUpload(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  const headers = objectHeadersOf(ctx.req.headers);
  encryptedLayout(headers.meta);
  const created = await ctx.multipart.initiate(ctx.bucket, ctx.key, headers);
  sendXml(ctx, 'InitiateMultipartUploadResult', { Bucket: ctx.bucket, Key: ctx.key, UploadId: created.uploadId });
}

export async function uploadPart(ctx: RequestContext): Promise<void> {
  const number = partNumber(ctx);
  const target = await upload(ctx);
  const declared = declaredLength(ctx);
  if (declared !== undefined && declared > MAX_PART_SIZE) {
    throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
  }
  const layout = encryptedLayout(target.meta);
  const length = expectedPartLength(layout, objectHeadersOf(ctx.req.headers).meta, number);
  const checkLength = (actual: number): void => {
    if (length !== undefined && actual !== length) throw wrongPartLength(layout!, number, length, actual);
  };
  if (declared !== undefined) checkLength(declared);
  const expected = expectedMd5(ctx);
  const body = await receiveBody(ctx.body, ctx.store.tmpDir, declared, (received) => {
    checkLength(received.size);
    checkMd5(expected, received.md5);
  });
  const part = await ctx.multipart.putPart(ctx.bucket, target, number, body);
  sendEmpty(ctx, 200, { ETag: part.etag, 'x-oss-hash-crc64ecma': part.crc64, 'Content-MD5': body.md5.toString('base64') });
}

/** UploadPart with `x-oss-copy-source` (and optionally `x-oss-copy-source-range: bytes=a-b`). */
export async function uploadPartCopy(ctx: RequestContext): Promise<void> {
  const number = partNumber(ctx);
  const target = await upload(ctx);
  const rangeHeader = ctx.req.headers['x-oss-copy-source-range'];
  const part = await withCopySource(ctx, async (source, pieces) => {
    checkEncryptedPartCopy(source.meta, encryptedLayout(target.meta));
    const range = rangeHeader === undefined ? undefined : parseRange(String(rangeHeader), source.size);
    if (rangeHeader !== undefined && !range) throw invalidArgument('The x-oss-copy-source-range is not valid.', 'x-oss-copy-source-range', String(rangeHeader));
    const start = range?.start ?? 0;
    const end = range?.end ?? source.size - 1;
    const body = await receiveBody(Readable.from(readPieces(pieces, start, end)), ctx.store.tmpDir, end - start + 1);
    return ctx.multipart.putPart(ctx.bucket, target, number, body);
  });
  ctx.res.setHeader('ETag', part.etag);
  sendXml(ctx, 'CopyPartResult', { LastModified: isoDate(part.lastModified), ETag: part.etag });
}

/** Parts in the body, or every uploaded part with `x-oss-complete-all: yes`. */
async function requestedParts(ctx: RequestContext, target: UploadRecord): Promise<{ number: number; etag: string }[]> {
  const body = await readSmallBody(ctx);
  if (String(ctx.req.headers['x-oss-complete-all']).toLowerCase() === 'yes') {
    if (body.trim() !== '') throw invalidArgument('The body must be empty with x-oss-complete-all.', 'x-oss-complete-all', 'yes');
    return (await ctx.multipart.listParts(ctx.bucket, target)).map((p) => ({ number: p.number, etag: p.etag }));
  }
  return children(parseXml(body, 'CompleteMultipartUpload'), 'Part').map((p) => {
    const raw = text(p, 'PartNumber').trim();
    if (!/^\d+$/.test(raw)) throw malformedXml();
    return { number: Number(raw), etag: text(p, 'ETag') };
  });
}

export async function completeMultipartUpload(ctx: RequestContext): Promise<void> {
  const target = await upload(ctx);
  const parts = await requestedParts(ctx, target);
  checkEncryptedComplete(encryptedLayout(target.meta), parts.map((p) => p.number));
  const record = await ctx.multipart.complete(ctx.bucket, target, parts);
  const encoded = param(ctx, 'encoding-type') === 'url';
  const key = encoded ? encodeURIComponent(ctx.key) : ctx.key;
  ctx.res.setHeader('ETag', record.etag);
  ctx.res.setHeader('x-oss-hash-crc64ecma', record.crc64);
  sendXml(ctx, 'CompleteMultipartUploadResult', {
    ...(encoded ? { EncodingType: 'url' } : {}),
    Location: `http://${ctx.bucket}.oss-cn-hangzhou.aliyuncs.com/${key}`,
    Bucket: ctx.bucket,
    Key: key,
    ETag: record.etag,
  });
}

export async function abortMultipartUpload(ctx: RequestContext): Promise<void> {
  await ctx.multipart.abort(ctx.bucket, await upload(ctx));
  sendEmpty(ctx, 204);
}

export async function listParts(ctx: RequestContext): Promise<void> {
  const target = await upload(ctx);
  const marker = integerParam(ctx, 'part-number-marker', 0, MAX_PART_NUMBER);
  const maxParts = integerParam(ctx, 'max-parts', 1000, 1000);
  const after = (await ctx.multipart.listParts(ctx.bucket, target)).filter((p) => p.number > marker);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  sendXml(ctx, 'ListPartsResult', {
    Bucket: ctx.bucket,
    Key: ctx.key,
    UploadId: target.uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: page.length > 0 ? page[page.length - 1]!.number : marker,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: page.map((p) => ({ PartNumber: p.number, LastModified: isoDate(p.lastModified), ETag: p.etag, HashCrc64ecma: p.crc64, Size: p.size })),
  });
}

/** ListMultipartUploads: prefix, key-marker / upload-id-marker paging, max-uploads. */
export async function listMultipartUploads(ctx: RequestContext): Promise<void> {
  const prefix = param(ctx, 'prefix') ?? '';
  const keyMarker = param(ctx, 'key-marker') ?? '';
  const uploadIdMarker = param(ctx, 'upload-id-marker') ?? '';
  const maxUploads = integerParam(ctx, 'max-uploads', 1000, 1000);
  const markerBytes = Buffer.from(keyMarker);
  const after = (await ctx.multipart.listUploads(ctx.bucket)).filter((u) => {
    if (!u.key.startsWith(prefix)) return false;
    const order = Buffer.compare(Buffer.from(u.key), markerBytes);
    return keyMarker === '' || order > 0 || (order === 0 && uploadIdMarker !== '' && u.uploadId > uploadIdMarker);
  });
  const page = after.slice(0, maxUploads);
  const truncated = after.length > page.length;
  const last = page[page.length - 1];
  sendXml(ctx, 'ListMultipartUploadsResult', {
    Bucket: ctx.bucket,
    KeyMarker: keyMarker,
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: truncated && last ? last.key : '',
    NextUploadIdMarker: truncated && last ? last.uploadId : '',
    Delimiter: '',
    Prefix: prefix,
    MaxUploads: maxUploads,
    IsTruncated: truncated,
    Upload: page.map((u) => ({ Key: u.key, UploadId: u.uploadId, StorageClass: 'Standard', Initiated: isoDate(u.initiated) })),
  });
}
