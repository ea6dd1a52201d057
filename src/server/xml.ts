import { XMLParser } from 'fast-xml-parser';
import type { XmlNode, XmlValue } from '../util/xml.js';
import { malformedXml } from './errors.js';

export { buildXml, type XmlNode, type XmlValue } from '../util/xml.js';

// Values stay strings (an object key "0001" must not become 1) and keep their whitespace.
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, processEntities: true });

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
