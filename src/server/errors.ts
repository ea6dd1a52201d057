/**
 * An OSS error response: the HTTP status, the OSS `Code`, a message, and where OSS's error center
 * documents one, its EC number (`0005-00000401`: sent as `<EC>` and `x-oss-ec`). Routes throw it;
 * the dispatcher turns it into the XML body OSS sends, so clients parse it as they parse real OSS.
 */
export class OssError extends Error {
  override name = 'OssError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra elements OSS adds to some errors (e.g. `StringToSign`, `Key`). */
    readonly details: Record<string, string> = {},
    readonly ec?: string,
  ) {
    super(message);
  }
}

export const noSuchBucket = (bucket: string): OssError =>
  new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket });

export const noSuchKey = (key: string): OssError =>
  new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });

export const noSuchUpload = (uploadId: string): OssError =>
  new OssError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });

export const invalidArgument = (message: string, name?: string, value?: string): OssError =>
  new OssError(400, 'InvalidArgument', message, name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? '' });

export const fileAlreadyExists = (): OssError =>
  new OssError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.');
export const malformedXml = (): OssError =>
  new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
