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

/** The bar drawing now, which carries the status line; undefined when none draws. */
let drawing: { say(text: string): void } | undefined;
/** A status line stands on the terminal without its newline. */
let standing = false;

/**
 * A note about the work in flight (a retry): on a terminal, the one status line, rewritten in
 * place (after the progress bar, when one draws); elsewhere a line of its own, as a log has it.
 */
export function sayStatus(text: string, quiet: boolean, stream: NodeJS.WriteStream = process.stderr): void {
  if (quiet) return;
  if (!stream.isTTY) return void stream.write(`ossencfs: ${text}\n`);
  if (drawing) return drawing.say(text);
  stream.write(`\r\x1b[K${text}`);
  standing = true;
}

/** Takes the status line back: what it said is over. */
export function clearStatus(stream: NodeJS.WriteStream = process.stderr): void {
  if (drawing) drawing.say('');
  else if (standing) stream.write('\r\x1b[K');
  standing = false;
}

/** Ends a standing status line, so what is printed next starts a line of its own. */
export function endStatus(stream: NodeJS.WriteStream = process.stderr): void {
  if (standing) stream.write('\n');
  standing = false;
}

export function createProgress({ label, total, unit, quiet, stream = process.stderr }: ProgressOptions): Progress {
  if (quiet || !stream.isTTY) return SILENT;
  const show = unit === 'bytes' ? formatBytes : (n: number) => String(n);
  const started = Date.now();
  let status = '';
  const payload = (value: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { done: show(value), size: show(bar.getTotal()), rate: `${show((value - before) / seconds)}/s`, status };
  };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} {bar} {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}{status}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  let before = 0;
  bar.start(total, 0, payload(0));
  drawing = {
    say(text) {
      status = text ? ` | ${text}` : '';
      bar.update(value, payload(value));
    },
  };
  const add = (n: number): void => {
    value += n;
    // Bytes moving again: the retry is over.
    if (n > 0) status = '';
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
      drawing = undefined;
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
