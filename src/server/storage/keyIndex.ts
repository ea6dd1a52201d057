/** What a listing shows of an object; the rest of its metadata stays on disk. */
export interface IndexEntry {
  key: string;
  size: number;
  etag: string;
  lastModified: number;
  type: string;
}

export interface ListQuery {
  prefix: string;
  delimiter: string;
  /** Only keys (and common prefixes) strictly after this one: marker, start-after, continuation. */
  after: string;
  maxKeys: number;
}

export interface ListPage {
  objects: IndexEntry[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page continues. */
  last: string;
}

interface Slot {
  bytes: Buffer;
  entry: IndexEntry;
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/**
 * The keys of one bucket in memory, sorted by their UTF-8 bytes (OSS's listing order, which JS
 * string order is not). A page is two binary searches plus one step per entry returned, and a
 * common prefix is skipped with one more search, so 100k keys under one prefix cost nothing extra.
 */
export class KeyIndex {
  private slots: Slot[] = [];

  /** Bulk load (start-up): one sort instead of an insertion per key. */
  static of(entries: IndexEntry[]): KeyIndex {
    const index = new KeyIndex();
    index.slots = entries.map((entry) => ({ bytes: Buffer.from(entry.key), entry })).sort((a, b) => a.bytes.compare(b.bytes));
    return index;
  }

  get size(): number {
    return this.slots.length;
  }

  get(key: string): IndexEntry | undefined {
    const bytes = Buffer.from(key);
    const slot = this.slots[this.firstNotBelow(bytes)];
    return slot && slot.bytes.equals(bytes) ? slot.entry : undefined;
  }

  set(entry: IndexEntry): void {
    const bytes = Buffer.from(entry.key);
    const at = this.firstNotBelow(bytes);
    const slot = this.slots[at];
    if (slot && slot.bytes.equals(bytes)) slot.entry = entry;
    else this.slots.splice(at, 0, { bytes, entry });
  }

  delete(key: string): void {
    const bytes = Buffer.from(key);
    const at = this.firstNotBelow(bytes);
    if (this.slots[at]?.bytes.equals(bytes)) this.slots.splice(at, 1);
  }

  list(query: ListQuery): ListPage {
    const prefix = Buffer.from(query.prefix);
    const delimiter = Buffer.from(query.delimiter);
    const after = Buffer.from(query.after);
    const page: ListPage = { objects: [], prefixes: [], truncated: false, last: '' };
    let at = this.firstNotBelow(prefix);
    if (query.after !== '') at = Math.max(at, this.firstAbove(after));
    while (at < this.slots.length) {
      const slot = this.slots[at]!;
      if (!startsWith(slot.bytes, prefix)) break;
      const cut = delimiter.length > 0 ? slot.bytes.indexOf(delimiter, prefix.length) : -1;
      if (cut < 0) {
        if (page.objects.length + page.prefixes.length === query.maxKeys) return { ...page, truncated: true };
        page.objects.push(slot.entry);
        page.last = slot.entry.key;
        at += 1;
        continue;
      }
      const common = slot.bytes.subarray(0, cut + delimiter.length);
      // A marker equal to a common prefix means that group was already returned.
      if (query.after === '' || common.compare(after) > 0) {
        if (page.objects.length + page.prefixes.length === query.maxKeys) return { ...page, truncated: true };
        page.prefixes.push(common.toString());
        page.last = common.toString();
      }
      at = this.firstPast(common, at);
    }
    return page;
  }

  /** First slot whose bytes are >= `bytes`. */
  private firstNotBelow(bytes: Buffer): number {
    return this.search((slot) => slot.bytes.compare(bytes) < 0, 0);
  }

  /** First slot whose bytes are > `bytes`. */
  private firstAbove(bytes: Buffer): number {
    return this.search((slot) => slot.bytes.compare(bytes) <= 0, 0);
  }

  /** First slot from `from` (which starts with `prefix`) on that does not start with it. */
  private firstPast(prefix: Buffer, from: number): number {
    return this.search((slot) => startsWith(slot.bytes, prefix), from);
  }

  /** Lowest index in [from, length) where `before` turns false; `before` must be monotone. */
  private search(before: (slot: Slot) => boolean, from: number): number {
    let lo = from;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.slots[mid]!)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
