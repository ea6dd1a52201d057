// The functions our C adds to fuse-native's addon; upstream's own are index.js's business.

/**
 * attr_cache.c: `records` are [u32 path length][path, zero-padded to 4 bytes][u32 hold, ms][18 u32:
 * fuse-native's stat array, read by populate_stat], each held its hold until its first use, then kept `ttlMs`.
 */
export function ossencfs_attr_cache_put(records: Buffer, ttlMs: number): void;
/** attr_cache.c: JavaScript answered a getattr of `path` itself. */
export function ossencfs_attr_cache_forget(path: string): void;
export function ossencfs_attr_cache_clear(): void;
/** attr_cache.c: entries held, and getattrs answered there since the process started. */
export function ossencfs_attr_cache_stats(): [entries: number, hits: number];
/** caller.c: the caller of the operation being dispatched into JavaScript (valid at a handler's start). */
export function ossencfs_caller(): [uid: number, gid: number, pid: number];
/**
 * readdir_stream.c: before mounting, `serve(id, path)` is called for each opendir of the mount
 * (which then takes opendir, readdir and releasedir); it answers with ossencfs_readdir_push.
 */
export function ossencfs_readdir_serve(serve: (id: number, path: string) => void): void;
/** readdir_stream.c: `names` (each NUL-terminated) join stream `id`; `end` is -1 for more to come, 0 for complete, else an errno. */
export function ossencfs_readdir_push(id: number, names: Buffer, end: number): void;
