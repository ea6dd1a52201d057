import type { RetryPolicy } from './store/retry.js';

/**
 * The numbers chosen for speed, memory or patience rather than set by a protocol, each with why.
 * Limits that OSS, AES or Linux impose stay with the code they bound; settings a user gives are
 * in src/cli/settings.ts. Measurements behind these choices are in docs/performance.md.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

// Requests.

/**
 * Six tries in at most 30 s, waits drawn from 0.1 s doubling to 5 s: rides out a throttled bucket or
 * a restarting link, and gives up while a user still waits for the answer.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = { attempts: 6, baseDelayMs: 100, maxDelayMs: 5_000, totalMs: 30_000 };

/**
 * Longest wait between tries of background work that keeps failing (an upload after close, an
 * attribute write): it spares a bucket that is down, and the work still lands within a minute of
 * the bucket coming back.
 */
export const BACKGROUND_RETRY_MAX_MS = 60_000;

/** A GET body silent this long is on a dead connection (a dropped link sends nothing at all). */
export const BODY_IDLE_TIMEOUT_MS = 30_000;

/** Real OSS answers a HEAD or LIST in milliseconds; this long a silence is a hung server or link. */
export const QUICK_TIMEOUT_MS = 15_000;

/** How much earlier than our intent the server's clock may date an upload we started (OSS refuses more skew than 15 min). */
export const UPLOAD_CLOCK_SKEW_MS = 5 * 60_000;

/** Temporary credentials are renewed at least this long before they expire, so a request signed now is still good when it arrives. */
export const RENEW_MIN_MARGIN_MS = 2_000;

/** Renewal starts at most this long before expiry: the credentials library fetches anew only within its own 15-minute stale window. */
export const RENEW_MAX_MARGIN_MS = 10 * 60_000;

/** After a failed background renewal the next waits this long, so a dead credentials endpoint is not asked on every request. */
export const RENEW_RETRY_MS = 1_000;

// The HEAD worker thread (src/store/headWorker.ts).

/** HEADs in flight on the calling thread from which the next goes to the worker: a burst is a listing's, a few are not worth the hop. */
export const HEAD_WORKER_BURST = 8;

/** A worker with nothing to do for this long exits, for its isolate holds tens of MiB of RSS. */
export const HEAD_WORKER_IDLE_EXIT_MS = 5_000;

/** After a worker died, HEADs stay on the calling thread this long before another is tried, so a worker that cannot start is not started on every burst. */
export const HEAD_WORKER_REST_MS = 60_000;

// Encryption.

/** AES-CTR is encrypted in slices of this size: OpenSSL runs fastest on slices that stay in the CPU's cache. */
export const CTR_SLICE = 256 * KiB;

/** Up to this size one cipher update beats slicing, whose copy into one result buffer costs more than the cache misses. */
export const CTR_WHOLE = 1 * MiB;

/** Slices encrypted in place are this small, so the C allocator serves each one's output from memory it keeps. */
export const CTR_IN_PLACE_SLICE = 64 * KiB;

/** Unwrapped data keys kept: enough for every object a mount has open or cached blocks of, at ~100 bytes an entry. */
export const UNWRAP_CACHE_ENTRIES = 4096;

/** A small body's buffer starts at this and doubles, so the many small files never allocate a whole part. */
export const FIRST_BODY_BUFFER = 64 * KiB;

// Uploads.

/** Part size of multipart uploads unless told otherwise: big enough that a part's round trip is small beside its sending, small enough that a few in flight fit a modest memory. */
export const DEFAULT_PART_SIZE = 8 * MiB;

// The CLI.

/** Plaintext written per piece of a download's range; each piece is decrypted on the worker thread while the next arrives. */
export const DOWNLOAD_PIECE = 1 * MiB;

/** Objects a mount lists first: the key check heads the first encrypted ones among them. */
export const KEY_CHECK_LISTING = 20;

/** Objects the key check heads at most before it gives up: a bucket of plaintext or markers says nothing about the key. */
export const KEY_CHECK_HEADS = 5;

// The attribute cache (src/vfs/attrCache.ts), lookups (src/vfs/lookups.ts) and moved times (src/vfs/localTimes.ts).

/**
 * Longest a prefetched attribute waits for its first use (see AttrCache.hold), for the first names
 * of a listing. Long enough for `ls -l` to get through tens of thousands of names; it also bounds
 * how much staler than the TTL a listed name's attributes can be before their first use.
 */
export const PREFETCH_HOLD_MS = 10_000;

/**
 * Objects' HEADs remembered past the TTL, with the object's identity, so that a later listing
 * showing the same object can reuse its attributes instead of asking again (see
 * AttrCache.unchanged), up to about this many bytes (see CONFIRMED_HEAD_BYTES): a directory of
 * 100,000 whose index the mount read (the index keeps their metadata), or the metadata of tens of
 * thousands of HEADs kept for their directory's next index. Past it, a directory's first index
 * covers part of it, and the next listing's HEADs the rest.
 */
export const CONFIRMED_HEADS_BYTES = 128 * MiB;

/** Paths whose attributes are kept; the cache sets aside memory for all of them when it is made. */
export const ATTR_CACHE_ENTRIES = 500_000;

/** Paths whose moved times are remembered; past it the least recently moved show the bucket's again. */
export const LOCAL_TIMES_KEPT = 20_000;

/**
 * Parallel HEADs that fill attributes after a listing, so a directory without an index costs a
 * round trip per 64 names rather than per name; with HEADs on a worker thread (store/headWorker.ts)
 * 64 beat 32 in alternated runs (docs/performance.md).
 */
export const ATTR_PREFETCH_CONCURRENCY = 64;

/** Largest directory (entries) re-listed to answer lookups; see Lookups.listingForLookups. */
export const LOOKUP_LISTING_MAX_ENTRIES = 5000;

/**
 * How much longer a listed name's prefetched attribute waits for its first use for each name
 * before it in the listing: a reader going through it at 2,000 names a second (`ls -l` on a busy
 * host) still finds the 100,000th name held, 60 s after it was listed at worst.
 */
export const PREFETCH_HOLD_PER_NAME_MS = 0.5;

/** What one remembered HEAD costs beside its metadata's text: its path, identity, attributes and the LRU's slot. */
export const CONFIRMED_HEAD_BYTES = 400;

/**
 * Pages of a listing asked for ahead of their use (~0.25 MiB each at most): its pages keep coming
 * while the mount takes in the ones before, or reads the directory's index before using any.
 */
export const LISTING_PAGES_AHEAD = 32;

/**
 * What taking in a listed entry leaves for the collector, about (its page's share, the
 * attributes handed to C): it lives a turn of the event loop or more, so it dies old, and a
 * directory of 100,000 would grow V8's heap by hundreds of MiB before V8 collected it (see Collector).
 */
export const LISTED_ENTRY_GARBAGE = 1024;

// Directory walks (src/vfs/directoryWalks.ts): a program stat-ing a directory's names one by one.

/**
 * Names fetched ahead of a walk's position: enough to keep the prefetch limit busy for several
 * round trips while the walker takes one name at a time.
 */
export const WALK_WINDOW = 256;

/** A second lookup that missed the cache in one directory within this long makes it a walk. */
export const WALK_SIGN_MS = 10_000;

/** Directories whose walk order is remembered. */
export const WALKS_KEPT = 64;

/** Names remembered across those walks, ≈ 50 B each beside the listing's own. */
export const WALK_NAMES_KEPT = 200_000;

// The filesystem (src/vfs/filesystem.ts): copies, write-back and deferred attribute writes.

/** Copies in flight while a directory rename moves its objects: round trips overlap, and a bucket is not flooded. */
export const COPY_CONCURRENCY = 8;

/** Bytes of closed new files that may wait for their upload at once; beyond it, close uploads. */
export const WRITE_BACK_MAX_BYTES = 64 * MiB;

/** The mount's memory beside its memory budget: the process's RSS target is --cache-size plus this (see MemoryBudget). */
export const RUNTIME_MEMORY = 150 * MiB;

/** How long a closed file's attribute change waits to be written, for more to join it (see DeferredAttrs). */
export const ATTR_WRITE_DELAY_MS = 1000;

/** How long a file uploaded at close keeps its content in memory, for a rename to upload it again (see Filesystem.release). */
export const CLOSED_CONTENT_HOLD_MS = ATTR_WRITE_DELAY_MS;

// Directory indexes (src/vfs/indexUpkeep.ts).

/**
 * A directory's index is rewritten once this many of its listed objects cost a HEAD (or were
 * written by the mount) since it was made: 1% of the directory, at least one, at most this. A file
 * saved again and again in a big directory does not send the whole index each time.
 */
export const INDEX_STALE_MAX = 64;

/**
 * Smaller directories get no index: their few HEADs go out in parallel after the listing, in about
 * the time the index's GET would take, and an index would cost a PUT whenever they change.
 */
export const INDEX_MIN_OBJECTS = 8;

/** A directory is rewritten once nothing happened in it for this long: its HEADs and writes are in. */
export const INDEX_QUIET_MS = 3_000;

/** Directories whose index this mount has read (or found absent), by the index object's ETag. */
export const INDEX_SEEDED_KEPT = 10_000;

// The HTTP transport (src/store/transport.ts).

/**
 * An idle connection is closed after this long, well before a server closes its end (ours after
 * 30 s, OSS after about a minute): a request must never go out on a connection being closed.
 */
export const KEEP_ALIVE_MS = 4_000;

/**
 * HEADs sent on one connection before its first answer is in. A HEAD's answer is headers alone,
 * so nothing long waits ahead of one, and several answers come in one read: a read and a wake-up
 * saved per HEAD on both sides (figures in docs/performance.md). Deeper would make a server that
 * answers a connection's requests one by one keep more of them waiting.
 */
export const HEAD_PIPELINING = 4;

// The memory budget (src/memory/budget.ts).

/** Spare buffers kept ready for the next fetches: a read-ahead run's worth, at most 1/8 of the budget. */
export const SPARE_BYTES = 16 * 1024 * 1024;

/**
 * Buffers let go of, in bytes, before a full collection frees them (util/collector.ts). Left to V8,
 * the churn of blocks and parts (two sizes that cannot reuse each other's memory) would stay
 * resident ~64 MiB past the budget.
 */
export const COLLECT_AFTER = 32 * 1024 * 1024;

/**
 * How far under its memory target the budget keeps the process's memory in use, as it sees it
 * when it allocates: the process grows between two looks (buffers awaiting collection, V8's heap),
 * and of what malloc holds free, a new buffer may not be able to reuse all (other threads' arenas,
 * fragments). The figures behind it are in docs/performance.md (scripts/bench-rss.mjs).
 */
export const RSS_TARGET_MARGIN = 48 * 1024 * 1024;
