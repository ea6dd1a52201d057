export { createKmsEndpoint, type KmsEndpoint, type KmsCredential } from './endpoint.js';
