import { XMLParser } from 'fast-xml-parser';

// Values stay strings (an object key "0001" must not become 1) and keep their whitespace (a key
// may begin or end with a space).
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, processEntities: true });

export type XmlValue = string | number | boolean | XmlNode | XmlValue[];
export interface XmlNode {
  [element: string]: XmlValue | undefined;
}

/** The element `root` of an XML document; undefined when the text is not XML or `root` is not at its top. */
export function parseXmlRoot(text: string, root: string): XmlNode | undefined {
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    return undefined;
  }
  const top = (doc as XmlNode)[root];
  if (top === undefined) return undefined;
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
