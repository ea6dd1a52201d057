import { SaxesParser } from 'saxes';
import type { ObjectInfo } from './ObjectStore.js';

/** One ListObjects (V1) answer, as read from its XML. */
export interface ListingXml {
  objects: ObjectInfo[];
  prefixes: string[];
  truncated: boolean;
  nextMarker?: string;
}

/**
 * A name from an `encoding-type=url` listing, decoded as the official Go SDK decodes it
 * (`url.QueryUnescape`): '+' is a space, so OSS sends a literal '+' as %2B.
 */
function queryUnescape(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

/**
 * Reads a ListBucketResult asked for with `encoding-type=url` (so keys, prefixes and the next
 * marker are percent-encoded: a key may hold characters XML 1.0 cannot carry) with a streaming
 * parser (saxes) that keeps only the fields a listing needs, without a tree of every element: a
 * cold `ls -l` of 10,000 names parses ten pages on the thread that also answers FUSE (figures in
 * docs/performance.md). Text is kept exactly as sent
 * (no trimming), so keys with spaces survive.
 */
export function parseListing(xml: string): ListingXml {
  const listing: ListingXml = { objects: [], prefixes: [], truncated: false };
  const parser = new SaxesParser();
  /** Element names from the root down to the current one. */
  const path: string[] = [];
  let text = '';
  let entry: Partial<Record<'Key' | 'Size' | 'ETag' | 'LastModified', string>> = {};
  parser.on('opentag', (tag) => {
    path.push(tag.name);
    text = '';
  });
  parser.on('text', (t) => {
    text += t;
  });
  parser.on('closetag', (tag) => {
    path.pop();
    const parent = path.at(-1);
    if (parent === 'Contents' && (tag.name === 'Key' || tag.name === 'Size' || tag.name === 'ETag' || tag.name === 'LastModified')) {
      entry[tag.name] = text;
    } else if (tag.name === 'Contents') {
      listing.objects.push({ key: queryUnescape(entry.Key ?? ''), size: Number(entry.Size), etag: entry.ETag ?? '', lastModified: new Date(entry.LastModified ?? '') });
      entry = {};
    } else if (parent === 'CommonPrefixes' && tag.name === 'Prefix') {
      listing.prefixes.push(queryUnescape(text));
    } else if (parent === 'ListBucketResult' && tag.name === 'IsTruncated') {
      listing.truncated = text === 'true';
    } else if (parent === 'ListBucketResult' && tag.name === 'NextMarker' && text !== '') {
      listing.nextMarker = queryUnescape(text);
    }
    text = '';
  });
  parser.write(xml).close();
  return listing;
}
