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
 * Pages of a listing asked for ahead of their use (~0.25 MiB each at most): the next page is on
 * the wire while the mount takes in the one before. More ahead gained nothing for 100,000 names at
 * 30 ms and slowed a cold `ls -l` whose names the index vouched for (docs/performance.md).
 */
export const LISTING_PAGES_AHEAD = 1;

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

/** How long a file uploaded at close keeps its content in memory, for a rename to upload it again (see OpenFiles.closed). */
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

// Open files (src/vfs/openFile.ts, built in src/vfs/buildFilesystem.ts).

/**
 * New content an open file keeps in memory, to go up in one PutObject at close, before it moves to a
 * staging file: most files written whole fit, and many written at once stay small beside the memory
 * budget they are counted in (its `staging` account).
 */
export const OPEN_FILE_MEMORY = 8 * MiB;

/**
 * Metadata bytes kept for the envelope of content not uploaded yet, which its upload makes (an
 * RSA-4096 envelope takes ~1.7 KiB, RSA-2048 ~1.0 KiB, KMS less): what an extended attribute set
 * may take is judged with this before the data key it will be sealed under exists. Too little lets
 * a set through that the upload then cannot carry; too much refuses sets that would fit.
 */
export const ENVELOPE_META_RESERVE = 2 * KiB;

/** Blocks a sequential reader's read-ahead grows to at most (see ReadAheadWindow): 16 MiB at the default block size, enough to keep a long link busy. */
export const READ_AHEAD_MAX_BLOCKS = 16;

// The C allocator (src/util/allocator.ts); the figures behind these are in docs/architecture.md.

/**
 * glibc's mmap threshold, set to its largest: buffers below it come from the heap and are reused
 * after a free rather than unmapped and faulted in again, and it no longer slides with what was freed.
 */
export const MALLOC_MMAP_THRESHOLD = 32 * MiB;

/**
 * Free memory at the top of the heap kept rather than given back to the kernel: the data path
 * frees buffers in bulk (a collection's worth), and the next batch would fault that memory in again.
 * It bounds what a trim leaves resident.
 */
export const MALLOC_TRIM_THRESHOLD = 16 * MiB;

/** What the heap grows by at a time while block memory is allocated, so that it can be backed by 2 MiB huge pages (see allocateOnHugePages). */
export const HUGE_PAGE_HEAP_PAD = 16 * MiB;

// Decryption on a worker thread (src/crypto/ctrWorker.ts; its slices are CTR_IN_PLACE_SLICE).

/**
 * Decrypted bytes after which the worker asks for a minor collection. Each slice's output is garbage
 * at once, and an isolate with almost no JavaScript objects would collect only once its external
 * memory grew by tens of MiB, all of it resident meanwhile; a minor collection over a near-empty young
 * generation costs next to nothing.
 */
export const CTR_WORKER_COLLECT_AFTER = 2 * MiB;

// The bundled OSS server's storage (src/server/storage/); the figures behind these are in docs/performance.md.

/** Bytes a read stream of an object's data file yields at a time: over loopback, per-chunk overhead dominates small chunks. */
export const SERVER_STREAM_CHUNK = 1 * MiB;

/** Read chunks kept between responses, so that concurrent GETs reuse memory rather than fault in more. */
export const SERVER_SPARE_CHUNK_BYTES = 32 * SERVER_STREAM_CHUNK;

/**
 * A body being received is flushed to disk (a background fdatasync) every this many bytes: the page
 * cache would otherwise hold all of it dirty, and the final fsync would write it while the client waits.
 */
export const SERVER_SYNC_EVERY = 64 * MiB;

/** Bytes of a body gathered for one write: each write is a hand-off to libuv's thread pool, whose wake-up costs the event loop, and a socket yields 64 KiB at a time. */
export const SERVER_WRITE_BATCH = 1 * MiB;

/** A body up to this size is held in memory and written where it belongs in the same batch as its commit: one trip to the fsync worker, no temporary file to rename. */
export const SERVER_SMALL_BODY = 256 * KiB;

/**
 * An object up to this size keeps its bytes in its metadata file: a PUT writes and syncs one file
 * and one directory, not two of each. Small, because the server reads every metadata file at start
 * and a HEAD that misses the record cache reads the whole file.
 */
export const SERVER_INLINE_MAX = 16 * KiB;

/**
 * Parsed metadata records kept in memory, by count and by bytes (inline bytes count): a cold `ls -l`
 * through a mount HEADs every file of a directory, and each read from disk costs an open, a read and
 * a JSON parse.
 */
export const SERVER_RECORD_CACHE_ENTRIES = 20_000;
export const SERVER_RECORD_CACHE_BYTES = 64 * MiB;

/** From this size a body's MD5 is computed on a worker thread beside the socket and disk work; below it, inline. */
export const SERVER_MD5_PARALLEL_FROM = 8 * MiB;

/** Chunks go to the MD5 worker in batches of about this many bytes: one message per batch each way. */
export const SERVER_MD5_BATCH = 1 * MiB;

/** Bytes handed to the MD5 worker and not yet hashed, across all bodies, beyond which receivers wait: the back-pressure, and a bound on what the worker holds. */
export const SERVER_MD5_IN_FLIGHT = 8 * MiB;

/** Hashed chunks come back from the MD5 worker to be freed here: a minor collection every this many bytes frees them while their memory is still in cache for the next chunks. */
export const SERVER_MD5_COLLECT_AFTER = 16 * MiB;

/** Threads running fsyncs and renames: two, so one slow fsync does not hold every other commit; libuv's pool has four threads for the rest. */
export const SERVER_FSYNC_WORKERS = 2;

// The bundled server's bookkeeping.

/** Temporary credentials the server's STS keeps at most, newest first: a client asking in a loop cannot grow memory. */
export const STS_KEYS_KEPT = 10_000;

/** An expired temporary key is still recognised (and refused as expired) for this long, then forgotten. */
export const STS_FORGET_AFTER_MS = 10 * 60_000;

/**
 * Requests the fault-injection log keeps at least (the oldest go first); it grows to twice this
 * before the oldest half is dropped at once, for trimming one entry per request would move the whole
 * array each time.
 */
export const FAULT_REQUEST_LOG_KEPT = 100_000;

/** KMS request nonces remembered before the expired ones are swept out. */
export const KMS_NONCES_BEFORE_SWEEP = 10_000;

// Reading answers (src/store/recycledReads.ts) and read-ahead (src/vfs/readAheadWindow.ts).

/**
 * A connection's socket read buffer, the most one read takes from the kernel: the size Node's own
 * reads use. Each plain-HTTP connection keeps two; larger would keep more idle per connection for
 * fewer, longer reads only when the kernel holds that much.
 */
export const SOCKET_READ_BYTES = 64 * KiB;

/** A refill is split into GETs of at most this fraction of the window, so several are in flight. */
export const GETS_PER_WINDOW = 4;

/** The shortest GET a refill is split into, in blocks: below this a request costs more than its bytes. */
export const MIN_RUN_BLOCKS = 4;

/**
 * What one rate sample spans, at least: blocks come in bursts (a worker's replies, a busy event
 * loop getting to several at once), so the time between two says little alone, and a sample
 * that began just after a pause would see a burst as an endless rate.
 */
export const RATE_SPAN_BLOCKS = 4;
export const RATE_SPAN_MS = 10;

/** Weight of a new sample in the rate's running average: a few samples follow a changed link, one burst does not swing it. */
export const RATE_WEIGHT = 1 / 4;

/**
 * Latency samples the window's latency is the least of. The least, not an average: a GET's first
 * block also waits behind the blocks of the GETs before it (in the server, the connection, the
 * decrypt worker), and that wait grows with the window, which would grow it further.
 */
export const LATENCY_SAMPLES = 8;
