// The part of fuse-native's API ossencfs uses (upstream ships no types), as index.js exports it.
declare namespace Fuse {
  type Cb<T = never> = [T] extends [never] ? (code: number) => void : (code: number, value?: T) => void;
  export interface Stat {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    nlink: number;
    mtime: Date | number;
    atime: Date | number;
    ctime: Date | number;
    blocks?: number;
    blksize?: number;
    ino?: number;
    dev?: number;
    rdev?: number;
  }
  export interface Operations {
    init?(cb: Cb): void;
    access?(path: string, mode: number, cb: Cb): void;
    statfs?(path: string, cb: Cb<Record<string, number>>): void;
    getattr?(path: string, cb: Cb<Stat>): void;
    fgetattr?(path: string, fd: number, cb: Cb<Stat>): void;
    flush?(path: string, fd: number, cb: Cb): void;
    fsync?(path: string, datasync: boolean, fd: number, cb: Cb): void;
    fsyncdir?(path: string, datasync: boolean, fd: number, cb: Cb): void;
    readdir?(path: string, cb: (code: number, names?: string[], stats?: Stat[]) => void): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    readlink?(path: string, cb: Cb<string>): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    mknod?(path: string, mode: number, dev: number, cb: Cb): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
    getxattr?(path: string, name: string, position: number, cb: Cb<Buffer>): void;
    listxattr?(path: string, cb: Cb<string[]>): void;
    removexattr?(path: string, name: string, cb: Cb): void;
    open?(path: string, flags: number, cb: Cb<number>): void;
    opendir?(path: string, flags: number, cb: Cb<number>): void;
    read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
    write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
    release?(path: string, fd: number, cb: Cb): void;
    releasedir?(path: string, fd: number, cb: Cb): void;
    create?(path: string, mode: number, cb: Cb<number>): void;
    utimens?(path: string, atime: Date | number, mtime: Date | number, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    link?(src: string, dest: string, cb: Cb): void;
    symlink?(src: string, dest: string, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
  }
  export interface FuseOptions {
    displayFolder?: string;
    debug?: boolean;
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    allowRoot?: boolean;
    autoUnmount?: boolean;
    defaultPermissions?: boolean;
    blkdev?: boolean;
    blksize?: number;
    maxRead?: number;
    fd?: number;
    userId?: number;
    fsname?: string;
    subtype?: string;
    kernelCache?: boolean;
    autoCache?: boolean;
    umask?: number;
    uid?: number;
    gid?: number;
    entryTimeout?: number;
    attrTimeout?: number;
    acAttrTimeout?: number;
    noforget?: boolean;
    remember?: number;
    modules?: string;
    directIO?: boolean;
    nonEmpty?: boolean;
  }
}

declare class Fuse {
  constructor(mnt: string, ops: Fuse.Operations, opts?: Fuse.FuseOptions);
  readonly mnt: string;
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  static unmount(mnt: string, cb: (err: Error | null) => void): void;
  static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;
  /** Internal, but the documented way to add libfuse2 `-o` options (ARCHITECTURE.md). */
  protected _fuseOptions(): string;
  /** Internal: the operations given. */
  protected readonly ops: Fuse.Operations;
  /**
   * Internal: the handlers that answer libfuse's getxattr and listxattr into its buffer (`value`,
   * `list`; empty for a size query) through `signal(result, buffer.buffer)`. Stock fuse-native's
   * are replaced (src/fuse/stockFuse.ts).
   */
  protected _op_getxattr(signal: (result: number, buffer: ArrayBufferLike) => void, path: string, name: string, value: Buffer, position: number): void;
  protected _op_listxattr(signal: (result: number, buffer: ArrayBufferLike) => void, path: string, list: Buffer): void;
}

export = Fuse;
