import { OssError } from '../errors.js';
import { hasParam, type RequestContext } from '../http/context.js';
import { FAULTS_RESOURCE, configureFaults } from './admin.js';
import { deleteBucket, getBucketInfo, getBucketLocation, headBucket, listBuckets, putBucket } from './buckets.js';
import { listObjects, listObjectsV2 } from './listing.js';
import {
  abortMultipartUpload, completeMultipartUpload, initiateMultipartUpload, listMultipartUploads, listParts, uploadPart, uploadPartCopy,
} from './multipart.js';
import { copyObject, deleteMultipleObjects, deleteObject, getObject, getObjectMeta, headObject, putObject } from './objects.js';

type Handler = (ctx: RequestContext) => void | Promise<void>;

/** True for the admin request, which bypasses injected faults. */
export function isAdmin(ctx: RequestContext): boolean {
  return ctx.bucket === '' && ctx.method === 'POST' && hasParam(ctx, FAULTS_RESOURCE);
}

function serviceRoute(ctx: RequestContext): Handler | undefined {
  if (isAdmin(ctx)) return configureFaults;
  return ctx.method === 'GET' ? listBuckets : undefined;
}

function bucketRoute(ctx: RequestContext): Handler | undefined {
  const has = (name: string): boolean => hasParam(ctx, name);
  switch (ctx.method) {
    case 'PUT':
      return putBucket;
    case 'DELETE':
      return deleteBucket;
    case 'HEAD':
      return headBucket;
    case 'POST':
      return has('delete') ? deleteMultipleObjects : undefined;
    case 'GET':
      if (has('location')) return getBucketLocation;
      if (has('bucketInfo')) return getBucketInfo;
      if (has('uploads')) return listMultipartUploads;
      return ctx.query.some((p) => p.name === 'list-type' && p.value === '2') ? listObjectsV2 : listObjects;
    default:
      return undefined;
  }
}

function objectRoute(ctx: RequestContext): Handler | undefined {
  const has = (name: string): boolean => hasParam(ctx, name);
  const copying = ctx.req.headers['x-oss-copy-source'] !== undefined;
  switch (ctx.method) {
    case 'PUT':
      if (has('uploadId')) return copying ? uploadPartCopy : uploadPart;
      return copying ? copyObject : putObject;
    case 'GET':
      return has('uploadId') ? listParts : getObject;
    case 'HEAD':
      return has('objectMeta') ? getObjectMeta : headObject;
    case 'DELETE':
      return has('uploadId') ? abortMultipartUpload : deleteObject;
    case 'POST':
      if (has('uploads')) return initiateMultipartUpload;
      return has('uploadId') ? completeMultipartUpload : undefined;
    default:
      return undefined;
  }
}

/** Picks the operation from method, bucket/key presence and sub-resources, as OSS does. */
export function route(ctx: RequestContext): Handler {
  const handler = ctx.bucket === '' ? serviceRoute(ctx) : ctx.key === '' ? bucketRoute(ctx) : objectRoute(ctx);
  if (!handler) throw new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: ctx.method });
  return handler;
}
