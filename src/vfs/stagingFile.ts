import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * A private, sparse local copy of a file's plaintext until it is uploaded: an in-place edit, or
 * new content too large to hold in memory. Created 0600 in the cache's staging directory and
 * unlinked once the file is closed; a full disk surfaces as the ENOSPC of the write that hit it.
 */
export class StagingFile {
  /** The MD5 of the content, kept while it was only ever appended to; undefined once not. */
  private appended: Hash | undefined = createHash('md5');

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private length: number,
  ) {}

  static async create(dir: string): Promise<StagingFile> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, randomUUID());
    const handle = await open(path, 'wx+', 0o600);
    return new StagingFile(path, handle, 0);
  }

  get size(): number {
    return this.length;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.length);
    if (position >= end) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(end - position);
    const { bytesRead } = await this.handle.read(out, 0, out.length, position);
    return out.subarray(0, bytesRead);
  }

  /**
   * Base64 MD5 of the whole content when it was written front to back (the upload then needs
   * no second pass over the file to learn it); undefined otherwise.
   */
  md5(): string | undefined {
    return this.appended?.copy().digest('base64');
  }

  async write(position: number, data: Buffer): Promise<void> {
    const appending = position === this.length;
    const hash = this.appended;
    this.appended = undefined; // until these bytes are in the file
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
    this.length = Math.max(this.length, position + data.length);
    if (appending && hash) this.appended = hash.update(data);
  }

  async truncate(size: number): Promise<void> {
    if (size !== this.length) this.appended = undefined;
    await this.handle.truncate(size);
    this.length = size;
  }

  /** Appends a stream (an object's plaintext) to the file. */
  async fill(source: Readable): Promise<void> {
    for await (const chunk of source) await this.write(this.length, chunk as Buffer);
  }

  async remove(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}
