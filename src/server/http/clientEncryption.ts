import { OssError } from '../errors.js';

/**
 * OSS's rules for client-side-encryption (CSE) requests, from its error center (codes 0005-00000401 …
 * -421 and 0042-00000309). A request is a CSE one when it carries any header with this prefix; an
 * upload is one when its Initiate did. A real bucket applies them always, so this server does too.
 */
const CSE_PREFIX = 'x-oss-meta-client-side-encryption-';
const ENVELOPE_OPERATIONS = 'PutObject, InitiateMultipartUpload, or UploadPart';

/** OSS's most common code for its 0005-* argument errors; the EC number says which rule failed. */
function cseError(ec: string, message: string): OssError {
  return new OssError(400, 'InvalidArgument', message, {}, ec);
}

function isClientEncrypted(meta: Record<string, string>): boolean {
  return Object.keys(meta).some((name) => name.startsWith(CSE_PREFIX));
}

function missing(name: string, ec: string, operations: string): OssError {
  return cseError(ec, `The ${CSE_PREFIX}${name} header is missing from a ${operations} request in a client-side encryption scenario.`);
}

function required(meta: Record<string, string>, name: string, ec: string, operations: string): string {
  const value = meta[CSE_PREFIX + name];
  if (value === undefined) throw missing(name, ec, operations);
  return value;
}

function integer(meta: Record<string, string>, name: string, missingEc: string, notIntegerEc: string): number {
  const raw = required(meta, name, missingEc, 'InitiateMultipartUpload or UploadPart').trim();
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw cseError(notIntegerEc, `The value of the ${CSE_PREFIX}${name} header is not an integer in a client-side encryption scenario.`);
  }
  return value;
}


/** PutObject: a CSE request carries the wrapped key and the wrapped IV (`-start`). */
export function checkEncryptedPut(meta: Record<string, string>): void {
  if (!isClientEncrypted(meta)) return;
  required(meta, 'key', '0005-00000401', ENVELOPE_OPERATIONS);
  required(meta, 'start', '0005-00000402', ENVELOPE_OPERATIONS);
}

/** What an encrypted multipart upload promised at Initiate: every part must repeat it. */
export interface EncryptedLayout {
  start: string;
  dataSize: number;
  partSize: number;
}

const MAX_PARTS = 10_000;

function partsOf(layout: EncryptedLayout): number {
  return Math.max(1, Math.ceil(layout.dataSize / layout.partSize));
}

/**
 * The layout an Initiate or UploadPart declares (undefined for a plaintext one): `-key`, `-start`,
 * integer `-data-size` and `-part-size`, and no more than 10,000 parts of that size.
 */
export function encryptedLayout(meta: Record<string, string>): EncryptedLayout | undefined {
  if (!isClientEncrypted(meta)) return undefined;
  required(meta, 'key', '0005-00000401', ENVELOPE_OPERATIONS);
  const start = required(meta, 'start', '0005-00000402', ENVELOPE_OPERATIONS);
  const dataSize = integer(meta, 'data-size', '0005-00000406', '0005-00000408');
  const partSize = integer(meta, 'part-size', '0005-00000407', '0005-00000409');
  if (partSize === 0) throw cseError('0005-00000409', `The value of the ${CSE_PREFIX}part-size header must be a positive integer.`);
  const layout = { start, dataSize, partSize };
  if (Math.ceil(dataSize / partSize) > MAX_PARTS) {
    throw cseError('0005-00000410', `The number of parts (${CSE_PREFIX}data-size divided by ${CSE_PREFIX}part-size) exceeds ${MAX_PARTS}.`);
  }
  return layout;
}

/**
 * Checks an UploadPart against its upload and returns the length part `number` must have: the
 * part size for all but the last part, the rest of the data size for the last. Undefined for a
 * plaintext part of a plaintext upload.
 */
export function expectedPartLength(upload: EncryptedLayout | undefined, partMeta: Record<string, string>, number: number): number | undefined {
  if (upload === undefined) {
    if (isClientEncrypted(partMeta)) {
      throw cseError('0005-00000413', `The ${CSE_PREFIX}* headers of the UploadPart request do not match the InitiateMultipartUpload request, which had none.`);
    }
    return undefined;
  }
  const part = encryptedLayout(partMeta);
  if (part === undefined) throw missing('key', '0005-00000401', ENVELOPE_OPERATIONS);
  const mismatch = (name: string, ec: string): OssError =>
    cseError(ec, `The value of the ${CSE_PREFIX}${name} header in the UploadPart request does not match the value in the InitiateMultipartUpload request.`);
  if (part.start !== upload.start) throw mismatch('start', '0005-00000413');
  if (part.dataSize !== upload.dataSize) throw mismatch('data-size', '0005-00000417');
  if (part.partSize !== upload.partSize) throw mismatch('part-size', '0005-00000418');
  const parts = partsOf(upload);
  if (number > parts) {
    throw cseError('0005-00000420', `Part ${number} is beyond the last part (${parts}) that ${CSE_PREFIX}data-size and ${CSE_PREFIX}part-size allow.`);
  }
  return number < parts ? upload.partSize : upload.dataSize - upload.partSize * (parts - 1);
}

/** The error for a part whose length is not the one its number requires. */
export function wrongPartLength(upload: EncryptedLayout, number: number, expected: number, actual: number): OssError {
  return number < partsOf(upload)
    ? cseError('0005-00000419', `The size of part ${number} (${actual}) does not match the part size specified in the InitiateMultipartUpload request (${expected}).`)
    : cseError('0005-00000420', `The size of the last part ${number} (${actual}) is not the data size specified in the InitiateMultipartUpload request minus the parts before it (${expected}).`);
}

/** Complete: an encrypted upload must name exactly parts 1..N, which together hold `-data-size` bytes. */
export function checkEncryptedComplete(upload: EncryptedLayout | undefined, numbers: number[]): void {
  if (upload === undefined) return;
  const parts = partsOf(upload);
  if (numbers.length !== parts || numbers.some((n, i) => n !== i + 1)) {
    throw cseError('0005-00000420', `A client-side encrypted upload of ${upload.dataSize} bytes must be completed with parts 1 to ${parts}, which together hold the data size specified in the InitiateMultipartUpload request.`);
  }
}

/** CopyObject may not change the metadata of a CSE object: no REPLACE, no `x-oss-meta-*` sent. */
export function checkEncryptedCopy(sourceMeta: Record<string, string>, replace: boolean, requestedMeta: Record<string, string>): void {
  if (!isClientEncrypted(sourceMeta)) return;
  if (replace || Object.keys(requestedMeta).length > 0) {
    throw cseError('0005-00000421', 'Metadata of a client-side encrypted object cannot be modified by a CopyObject request.');
  }
}

/** UploadPartCopy takes no CSE source, and (as the conservative reading) fills no CSE upload. */
export function checkEncryptedPartCopy(sourceMeta: Record<string, string>, upload: EncryptedLayout | undefined): void {
  if (isClientEncrypted(sourceMeta)) {
    throw new OssError(400, 'InvalidArgument', 'The source object specified by x-oss-copy-source in an UploadPartCopy request uses client-side encryption.', {}, '0042-00000309');
  }
  if (upload !== undefined) {
    throw new OssError(400, 'InvalidArgument', 'UploadPartCopy cannot fill a part of a client-side encrypted multipart upload; upload the part with UploadPart.');
  }
}
