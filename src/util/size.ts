const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "256M", "1g", "1.5G", "4096" → bytes (binary units, as rclone and du use them). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a size (examples: 512M, 2G, 1048576)`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!);
}
