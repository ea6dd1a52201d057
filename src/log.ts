import { appendFileSync } from 'node:fs';
import { printable } from './util/printable.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

/**
 * One line per event. Callers pass object keys, paths and reasons — never key material or file
 * contents; nothing here could tell those apart, so the rule lives with the callers.
 */
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export function createLogger(level: LogLevel, file?: string): Logger {
  const write = (at: LogLevel, message: string): void => {
    if (RANK[at] > RANK[level]) return;
    const line = `${new Date().toISOString()} ${at.toUpperCase()} ${printable(message)}\n`;
    if (file) appendFileSync(file, line, { mode: 0o600 });
    else process.stderr.write(line);
  };
  return {
    error: (m) => write('error', m),
    warn: (m) => write('warn', m),
    info: (m) => write('info', m),
    debug: (m) => write('debug', m),
  };
}
