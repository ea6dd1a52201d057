import type { Matdesc } from './types.js';

/** Map equality, as oss2 compares them: order and JSON spacing do not matter; empty ≡ absent. */
export function sameMatdesc(a: Matdesc | undefined, b: Matdesc | undefined): boolean {
  const ak = a ? Object.keys(a) : [];
  const bk = b ? Object.keys(b) : [];
  if (ak.length !== bk.length) return false;
  return ak.every((k) => b !== undefined && Object.hasOwn(b, k) && b[k] === a?.[k]);
}

/** undefined for an empty or absent map, so "no matdesc" has one representation. */
export function normalizeMatdesc(m: Matdesc | undefined): Matdesc | undefined {
  return m && Object.keys(m).length > 0 ? { ...m } : undefined;
}

/**
 * Go's json.Marshal of a map[string]string: compact, keys sorted by UTF-8 bytes, and <, >, &,
 * U+2028, U+2029 escaped. Go readers compare this raw string, so matching it byte for byte lets
 * them select the key without a MasterCipherManager; Python and Java compare parsed maps.
 */
export function formatMatdesc(m: Matdesc): string {
  const keys = Object.keys(m).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(m[k])}`).join(',');
  return `{${body}}`.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Parses a matdesc header: undefined for an empty map, 'invalid' unless a JSON object of strings. */
export function parseMatdesc(text: string): Matdesc | undefined | 'invalid' {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'invalid';
  const entries = Object.entries(value);
  if (!entries.every(([, v]) => typeof v === 'string')) return 'invalid';
  return normalizeMatdesc(Object.fromEntries(entries) as Matdesc);
}

/** For messages: the compact JSON, or "(none)". */
export function describeMatdesc(m: Matdesc | undefined): string {
  return m ? formatMatdesc(m) : '(none)';
}
