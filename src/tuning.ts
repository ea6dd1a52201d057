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
