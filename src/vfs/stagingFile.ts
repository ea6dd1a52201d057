import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * A private, sparse local copy of a file's plaintext while it is edited in place. Created 0600 in
 * the cache's staging directory and unlinked once the file is closed; a full disk surfaces as the
 * ENOSPC of the write that hit it.
 */
export class StagingFile {
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

  async write(position: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
    this.length = Math.max(this.length, position + data.length);
  }

  async truncate(size: number): Promise<void> {
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
