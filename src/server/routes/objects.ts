import { OssError, invalidArgument, malformedXml } from '../errors.js';
import { checkMd5, declaredLength, expectedMd5, readSmallBody } from '../http/body.js';
import { checkConditions } from '../http/conditions.js';
import { param, sendEmpty, sendXml, type RequestContext } from '../http/context.js';
import { checkEncryptedCopy, checkEncryptedPut } from '../http/clientEncryption.js';
import { objectHeadersOf, writeObjectHeaders, httpDate } from '../http/objectHeaders.js';
import { parseCopySource, validateKey } from '../http/objectName.js';
import { parseRange } from '../http/range.js';
import { sendPieces, type DataPiece } from '../storage/dataFiles.js';
import { discardBody, receiveBody } from '../storage/files.js';
import type { ObjectRecord } from '../storage/store.js';
import { children, parseXml, text } from '../xml.js';
import { isoDate } from './owner.js';

const MAX_PUT_SIZE = 5 * 1024 ** 3;
const MAX_COPY_SIZE = 1024 ** 3;

/** `response-content-type=…` and friends override the stored header in a GET reply. */
const RESPONSE_OVERRIDES = ['content-type', 'content-language', 'expires', 'cache-control', 'content-disposition', 'content-encoding'];

export async function putObject(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  ctx.store.bucketRecord(ctx.bucket);
  const headers = objectHeadersOf(ctx.req.headers);
  checkEncryptedPut(headers.meta);
  const expected = expectedMd5(ctx);
  const declared = declaredLength(ctx);
  if (declared !== undefined && declared > MAX_PUT_SIZE) {
    throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
  }
  const body = await receiveBody(ctx.body, ctx.store.tmpDir, declared, (received) => checkMd5(expected, received.md5));
  const record = await ctx.store.commit(ctx.bucket, {
    key: ctx.key,
    ...headers,
    size: body.size,
    etag: `"${body.md5.toString('hex').toUpperCase()}"`,
    crc64: body.crc64,
    type: 'Normal',
  }, [body.piece], false, forbidsOverwrite(ctx)).catch(async (err: unknown) => {
    await discardBody(body);
    throw err;
  });
  sendEmpty(ctx, 200, { ETag: record.etag, 'x-oss-hash-crc64ecma': record.crc64, 'Content-MD5': body.md5.toString('base64') });
}

/** `x-oss-forbid-overwrite: true`: the write fails with FileAlreadyExists rather than replace an object. */
function forbidsOverwrite(ctx: RequestContext): boolean {
  return String(ctx.req.headers['x-oss-forbid-overwrite'] ?? '').toLowerCase() === 'true';
}

/**
 * What GetObject and HeadObject answer before any bytes: a 304 if the conditions say so (then
 * undefined), else the status, headers and length of the whole object or of the Range.
 */
function describeObject(ctx: RequestContext, record: ObjectRecord): { start: number; end: number } | undefined {
  if (checkConditions(ctx.req.headers, record.etag, record.lastModified) === 304) {
    sendEmpty(ctx, 304, { ETag: record.etag, 'Last-Modified': httpDate(record.lastModified) });
    return undefined;
  }
  const range = parseRange(ctx.req.headers.range, record.size);
  writeObjectHeaders(ctx.res, record);
  for (const name of RESPONSE_OVERRIDES) {
    const value = param(ctx, `response-${name}`);
    if (value !== undefined) ctx.res.setHeader(name, value);
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? record.size - 1;
  if (range) ctx.res.setHeader('Content-Range', `bytes ${start}-${end}/${record.size}`);
  ctx.res.writeHead(range ? 206 : 200, { 'Content-Length': end - start + 1 });
  return { start, end };
}

/** GetObject: the bytes of the version acquired, whose files stay on disk until they are sent. */
export async function getObject(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  const { record, pieces, release } = await ctx.store.acquire(ctx.bucket, ctx.key);
  try {
    const span = describeObject(ctx, record);
    if (!span) return;
    if (span.end < span.start) {
      ctx.res.end();
      return;
    }
    await sendPieces(pieces, span.start, span.end, ctx.res).then(
      () => ctx.res.end(),
      // The client went away or a fault reset the socket; the files are released below.
      () => ctx.res.destroy(),
    );
  } finally {
    await release();
  }
}

/** HeadObject: from the metadata alone (the mount's `ls -l` sends one per file), no data files pinned. */
export async function headObject(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  if (describeObject(ctx, await ctx.store.head(ctx.bucket, ctx.key))) ctx.res.end();
}

export async function getObjectMeta(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  const record = await ctx.store.head(ctx.bucket, ctx.key);
  ctx.res.writeHead(200, {
    ETag: record.etag,
    'Content-Length': record.size,
    'Last-Modified': httpDate(record.lastModified),
    'x-oss-hash-crc64ecma': record.crc64,
  });
  ctx.res.end();
}

export async function deleteObject(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  await ctx.store.delete(ctx.bucket, ctx.key);
  sendEmpty(ctx, 204);
}

export async function deleteMultipleObjects(ctx: RequestContext): Promise<void> {
  ctx.store.bucketRecord(ctx.bucket);
  if (ctx.req.headers['content-md5'] === undefined) {
    throw new OssError(400, 'InvalidDigest', 'Content-MD5 is required for DeleteMultipleObjects.');
  }
  const doc = parseXml(await readSmallBody(ctx), 'Delete');
  const keys = children(doc, 'Object').map((o) => text(o, 'Key'));
  if (keys.length === 0 || keys.length > 1000) throw malformedXml();
  keys.forEach(validateKey);
  for (const key of keys) await ctx.store.delete(ctx.bucket, key);
  const encoded = param(ctx, 'encoding-type') === 'url';
  const quiet = text(doc, 'Quiet').trim().toLowerCase() === 'true';
  sendXml(ctx, 'DeleteResult', {
    ...(encoded ? { EncodingType: 'url' } : {}),
    Deleted: quiet ? [] : keys.map((key) => ({ Key: encoded ? encodeURIComponent(key) : key })),
  });
}

/**
 * The source of a copy, checked against the `x-oss-copy-source-if-*` conditions, its data files
 * kept on disk while `use` links or reads them even if the source is replaced meanwhile.
 */
export async function withCopySource<T>(ctx: RequestContext, use: (source: ObjectRecord, pieces: DataPiece[]) => Promise<T>): Promise<T> {
  const { bucket, key } = parseCopySource(String(ctx.req.headers['x-oss-copy-source']));
  const { record, pieces, release } = await ctx.store.acquire(bucket, key);
  try {
    checkConditions(ctx.req.headers, record.etag, record.lastModified, 'x-oss-copy-source-');
    return await use(record, pieces);
  } finally {
    await release();
  }
}

export async function copyObject(ctx: RequestContext): Promise<void> {
  validateKey(ctx.key);
  ctx.store.bucketRecord(ctx.bucket);
  const directive = String(ctx.req.headers['x-oss-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw invalidArgument('Invalid metadata directive.', 'x-oss-metadata-directive', directive);
  const requested = objectHeadersOf(ctx.req.headers);
  const record = await withCopySource(ctx, async (source, pieces) => {
    checkEncryptedCopy(source.meta, directive === 'REPLACE', requested.meta);
    if (source.size > MAX_COPY_SIZE) {
      throw new OssError(400, 'EntityTooLarge', 'The source object of a CopyObject must not be larger than 1 GB; use UploadPartCopy.');
    }
    let described = { contentType: source.contentType, headers: source.headers, meta: source.meta };
    if (directive === 'REPLACE') {
      checkEncryptedPut(requested.meta);
      described = requested;
    }
    return ctx.store.commit(ctx.bucket, {
      key: ctx.key,
      ...described,
      size: source.size,
      etag: source.etag,
      crc64: source.crc64,
      type: source.type,
    }, pieces, true);
  });
  sendXml(ctx, 'CopyObjectResult', { ETag: record.etag, LastModified: isoDate(record.lastModified) });
}
