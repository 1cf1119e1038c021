export { mediaUrlConfigSpec } from './config.ts';
export {
  bucketedExpiry,
  MEDIA_PATH,
  mediaPathOf,
  mediaSignature,
  type RenditionFormat,
  signedMediaUrl,
  type VerifyFailure,
  type VerifyResult,
  verifyMediaUrl,
} from './sign.ts';
export { createMediaUrlSigner, type MediaUrlSigner, type MediaUrlSignerOptions } from './signer.ts';
