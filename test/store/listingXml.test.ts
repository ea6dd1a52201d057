import { describe, expect, it } from 'vitest';
import { parseListing } from '../../src/store/listingXml.js';

describe('parseListing (a ListBucketResult asked for with encoding-type=url)', () => {
  it('decodes names as the official Go SDK does: %XX, and + as a space', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b</Name><Prefix>d%2F</Prefix><Marker></Marker><MaxKeys>2</MaxKeys><Delimiter>%2F</Delimiter>
<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextMarker>d%2Fz+z</NextMarker>
<Contents><Key>d%2Fa+b%2Bc%20d%01</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>"E1"</ETag><Type>Normal</Type><Size>7</Size><Owner><ID>1</ID></Owner></Contents>
<Contents><Key>d%2F%E4%B8%AD</Key><LastModified>2026-12-02T11:00:00.000Z</LastModified><ETag>"E2"</ETag><Size>0</Size></Contents>
<CommonPrefixes><Prefix>d%2Fsub+dir%2F</Prefix></CommonPrefixes></ListBucketResult>`;
    expect(parseListing(xml)).toEqual({
      objects: [
        { key: 'd/a b+c d\x01', size: 7, etag: '"E1"', lastModified: new Date('2026-12-02T10:00:00.000Z') },
        { key: 'd/中', size: 0, etag: '"E2"', lastModified: new Date('2026-12-02T11:00:00.000Z') },
      ],
      prefixes: ['d/sub dir/'],
      truncated: true,
      nextMarker: 'd/z z',
    });
  });

  it('a page that is not well-formed XML throws instead of listing part of it', () => {
    expect(() => parseListing('<ListBucketResult><Contents><Key>a</Key></ListBucketResult>')).toThrow();
  });
});
