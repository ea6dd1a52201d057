/** The algorithm names the SDKs write, and the ones this implementation can read. */
export const CEK_ALG_AES_CTR = 'AES/CTR/NoPadding';
export const WRAP_ALG_RSA_PKCS1 = 'RSA/NONE/PKCS1Padding';
/** Written only by oss2's LocalRsaProvider (and V1 'rsa'); read by our RSA keys too. */
export const WRAP_ALG_RSA_OAEP = 'RSA/NONE/OAEPWithSHA-1AndMGF1Padding';
export const WRAP_ALG_KMS = 'KMS/ALICLOUD';

export const KNOWN_WRAP_ALGS: readonly string[] = [WRAP_ALG_RSA_PKCS1, WRAP_ALG_RSA_OAEP, WRAP_ALG_KMS];
