import { XMLBuilder } from 'fast-xml-parser';

const builder = new XMLBuilder({ ignoreAttributes: true, suppressEmptyNode: false, processEntities: true });

export type XmlValue = string | number | boolean | XmlNode | XmlValue[];
export interface XmlNode {
  [element: string]: XmlValue | undefined;
}

/**
 * One XML document with the declaration OSS puts in front of every body: what the server answers
 * and what the client sends (DeleteMultipleObjects, CompleteMultipartUpload). An array is one
 * element per item; text is escaped.
 */
export function buildXml(root: string, body: XmlValue): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body })}`;
}
