import { GETS_PER_WINDOW, LATENCY_SAMPLES, MIN_RUN_BLOCKS, RATE_SPAN_BLOCKS, RATE_SPAN_MS, RATE_WEIGHT } from '../tuning.js';

/**
 * How many blocks a sequential reader keeps requested ahead of what it reads, and how long each GET
 * for them is.
 *
 * The window first doubles with each sequential read, up to `rampBlocks`: enough for a bucket near
 * by, and a reader that stops early has not fetched much it never reads. Past that it follows what
 * the reader's own GETs measured: the least time, of its last few, from sending one to its first block
 * being in (the round trip, plus the server's start and the decryption of a block) and the rate blocks come in at while
 * they stream. The reader refills once less than half the window is ahead, and what it asks for
 * then begins to arrive only that latency later, so half the window must last that long at that
 * rate: the window is twice the bandwidth-delay product. It never exceeds `room`, what the block
 * cache gives read-ahead.
 *
 * Past the ramp a refill goes out as GETs of a quarter of the window (at least MIN_RUN_BLOCKS), so
 * that several are in flight at once: one connection to a far bucket carries at most its TCP window per round
 * trip, and blocks at the start of a short GET arrive sooner than in a long one.
 *
 * Times are in milliseconds from any fixed origin; the caller reads the clock, which keeps this
 * a function of its samples.
 */
export class ReadAheadWindow {
  private ramp = 1;
  private readonly latencies: number[] = [];
  private bytesPerMs: number | undefined;
  /** What streamed() was given since the last rate sample. */
  private span = { bytes: 0, ms: 0 };

  constructor(
    private readonly blockSize: number,
    private readonly rampBlocks: number,
  ) {}

  /** Another sequential read: the ramp doubles. */
  sequential(): void {
    this.ramp = Math.min(this.ramp * 2, this.rampBlocks);
  }

  /** A random read: back to one block. The measurements stay: they describe the path to the bucket. */
  random(): void {
    this.ramp = 1;
  }

  /** A GET sent at `sentMs` had its first block in at `firstMs`. */
  firstBlock(sentMs: number, firstMs: number): void {
    this.latencies.push(Math.max(0, firstMs - sentMs));
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
  }

  /**
   * `bytes` came in over `ms` while blocks were streaming: a block of a GET whose first block was
   * in already, timed from the block before it (of any of the reader's GETs, so concurrent GETs
   * add up to the rate the reader is fed at).
   */
  streamed(bytes: number, ms: number): void {
    this.span.bytes += bytes;
    this.span.ms += Math.max(0, ms);
    if (this.span.bytes < RATE_SPAN_BLOCKS * this.blockSize || this.span.ms < RATE_SPAN_MS) return;
    this.bytesPerMs = average(this.bytesPerMs, this.span.bytes / this.span.ms, RATE_WEIGHT);
    this.span = { bytes: 0, ms: 0 };
  }

  /** Twice the bandwidth-delay product, in blocks (0 until both have been measured). */
  get measuredBlocks(): number {
    if (this.latencies.length === 0 || this.bytesPerMs === undefined) return 0;
    return Math.ceil((2 * this.bytesPerMs * Math.min(...this.latencies)) / this.blockSize);
  }

  /** Blocks to keep requested ahead, `room` being what the cache gives read-ahead. */
  blocks(room: number): number {
    const wanted = this.ramp < this.rampBlocks ? this.ramp : Math.max(this.ramp, this.measuredBlocks);
    return Math.max(1, Math.min(wanted, room));
  }

  /**
   * The most blocks one GET of a refill asks for, with a window of `window` blocks: all of it
   * within the ramp (a near bucket), a quarter of it past that.
   */
  runBlocks(window: number): number {
    return window <= this.rampBlocks ? window : Math.max(MIN_RUN_BLOCKS, Math.ceil(window / GETS_PER_WINDOW));
  }
}

function average(previous: number | undefined, sample: number, weight: number): number {
  return previous === undefined ? sample : previous + weight * (sample - previous);
}
