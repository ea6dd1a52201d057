import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { STREAM_CHUNK } from './files.js';

/** One file of an object's bytes: a simple object has one, a completed multipart object one per part. */
export interface DataFile {
  path: string;
  size: number;
}

/** Bytes `start`..`end` (inclusive) of the concatenation of `files`, opening only the files the range touches. */
export async function* readDataFiles(files: DataFile[], start: number, end: number): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const file of files) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + file.size - 1);
    if (from <= to) yield* createReadStream(file.path, { start: from - offset, end: to - offset, highWaterMark: STREAM_CHUNK });
    offset += file.size;
  }
}

export async function removeFiles(paths: string[]): Promise<void> {
  for (const path of paths) await rm(path, { force: true });
}
