/** The "material description": a string→string map naming the master key that wrapped a data key. */
export type Matdesc = Record<string, string>;

/** The per-object content key: 32-byte AES-256 key and the 16-byte initial counter block. */
export interface DataKey {
  readonly key: Buffer;
  readonly iv: Buffer;
}

/** The encryption metadata of one object, as the official SDKs store it in x-oss-meta-* headers. */
export interface Envelope {
  format: 'v2' | 'v1';
  /** e.g. 'RSA/NONE/PKCS1Padding', 'KMS/ALICLOUD'; a V1 'rsa'/'kms' is mapped as oss2 does. */
  wrapAlg: string;
  /** 'AES/CTR/NoPadding' (V1's mislabelled 'AES/GCM/NoPadding' is mapped to it). */
  cekAlg: string;
  /** Header value exactly as stored (base64; for V1 KMS the CiphertextBlob as is). */
  wrappedKey: string;
  wrappedIv: string;
  /** Parsed; absent when there is no header (an empty map is treated as absent). */
  matdesc?: Matdesc;
  unencryptedContentLength?: number;
  /** base64 MD5 of the plaintext. */
  unencryptedContentMd5?: string;
  dataSize?: number;
  partSize?: number;
}

/** The informational fields a writer may add to an envelope. */
export interface EnvelopeExtra {
  unencryptedContentLength?: number;
  unencryptedContentMd5?: string;
  dataSize?: number;
  partSize?: number;
}

export interface WrappedDataKey {
  wrappedKey: string;
  wrappedIv: string;
}

export interface MasterKey {
  readonly wrapAlg: string;
  readonly matdesc: Matdesc | undefined;
  /** false for a public-key-only RSA key (encrypt-only mode). */
  readonly canUnwrap: boolean;
  /** A stable, non-secret identity (SHA-256 of the public key, the KMS key id). */
  readonly id: string;
  /**
   * Whether this key can unwrap an envelope with that wrap algorithm (our RSA keys read OAEP too).
   * Without it, a key unwraps only its own `wrapAlg`.
   */
  unwraps?(wrapAlg: string): boolean;
  wrap(dataKey: DataKey): Promise<WrappedDataKey>;
  /**
   * Optional: make the data key at the key service rather than locally (oss2's KMS provider uses
   * GenerateDataKey); the Keyring prefers it when sealing.
   */
  generate?(): Promise<{ dataKey: DataKey } & WrappedDataKey>;
  unwrap(envelope: Envelope, objectKey: string): Promise<DataKey>;
  /**
   * HMAC-SHA256 of `input` under a key only the holder of this master key's secret can derive;
   * undefined where there is no local secret (a public-key-only RSA key, a KMS key). The mount
   * authenticates the owner and mode it stores with it (src/secure/attrMac.ts).
   */
  readonly attributeMac: ((input: Buffer) => Buffer) | undefined;
}
