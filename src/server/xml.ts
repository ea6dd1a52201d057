import { XMLBuilder } from 'fast-xml-parser';
import { parseXmlRoot, type XmlNode, type XmlValue } from '../util/xml.js';
import { malformedXml } from './errors.js';

export { children, text, type XmlNode, type XmlValue } from '../util/xml.js';

const builder = new XMLBuilder({ ignoreAttributes: true, suppressEmptyNode: false, processEntities: true });

/** One XML document with the declaration OSS puts in front of every body. */
export function buildXml(root: string, body: XmlValue): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body })}`;
}

/** Parses a request body; anything that is not XML with `root` at the top is MalformedXML. */
export function parseXml(text: string, root: string): XmlNode {
  const node = parseXmlRoot(text, root);
  if (node === undefined) throw malformedXml();
  return node;
}
