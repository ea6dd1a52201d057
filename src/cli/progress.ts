import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr for long transfers: done/total, rate and ETA. It draws only on a
 * terminal and not with --quiet, so scripts and logs never get control characters; stdout stays
 * free for data (`cat`) and listings.
 */
export interface Progress {
  /** Count `n` more units done. */
  add(n: number): void;
  /** Count `n` units done before this run (a resumed download): they count toward the total, not the rate. */
  already(n: number): void;
  /** Grow the total (work discovered while running, e.g. a listing page). */
  addTotal(n: number): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  unit: 'bytes' | 'objects';
  quiet: boolean;
  stream?: NodeJS.WriteStream;
}

const SILENT: Progress = { add() {}, already() {}, addTotal() {}, stop() {} };

export function createProgress({ label, total, unit, quiet, stream = process.stderr }: ProgressOptions): Progress {
  if (quiet || !stream.isTTY) return SILENT;
  const show = unit === 'bytes' ? formatBytes : (n: number) => String(n);
  const started = Date.now();
  const payload = (value: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { done: show(value), size: show(bar.getTotal()), rate: `${show((value - before) / seconds)}/s` };
  };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} {bar} {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  let before = 0;
  bar.start(total, 0, payload(0));
  const add = (n: number): void => {
    value += n;
    bar.update(value, payload(value));
  };
  return {
    add,
    already(n) {
      before += n;
      add(n);
    },
    addTotal(n) {
      bar.setTotal(bar.getTotal() + n);
      bar.update(value, payload(value));
    },
    stop() {
      bar.stop();
    },
  };
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}
