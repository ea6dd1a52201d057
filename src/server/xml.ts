import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { malformedXml } from './errors.js';

const builder = new XMLBuilder({ ignoreAttributes: true, suppressEmptyNode: false, processEntities: true });

// Values stay strings (an object key "0001" must not become 1) and keep their whitespace.
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, processEntities: true });

export type XmlValue = string | number | boolean | XmlNode | XmlValue[];
export interface XmlNode {
  [element: string]: XmlValue | undefined;
}

/** One XML document with the declaration OSS puts in front of every body. */
export function buildXml(root: string, body: XmlValue): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body })}`;
}

/** Parses a request body; anything that is not XML with `root` at the top is MalformedXML. */
export function parseXml(text: string, root: string): XmlNode {
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    throw malformedXml();
  }
  const top = (doc as XmlNode)[root];
  if (top === undefined) throw malformedXml();
  return typeof top === 'object' && !Array.isArray(top) ? (top as XmlNode) : {};
}

/** The children named `name` as a list, whether the document had none, one or many. */
export function children(node: XmlNode, name: string): XmlValue[] {
  const value = node[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The text of a leaf child ('' when absent or not text). */
export function text(node: XmlValue | undefined, name: string): string {
  if (node === undefined || typeof node !== 'object' || Array.isArray(node)) return '';
  const value = node[name];
  return typeof value === 'string' ? value : '';
}
