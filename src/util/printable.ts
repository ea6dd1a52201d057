/**
 * Text that came from a bucket (object names, metadata) or carries it (error messages), made safe
 * for a terminal or a log line: C0 and C1 controls and DEL (ESC repaints a screen, CR forges a log
 * line, NUL hides the rest) and the bidirectional overrides (which reorder what is shown) become
 * visible escapes. Everything else, other Unicode included, is left as it is.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? escapeCode(c.charCodeAt(0)));
}

function escapeCode(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
