/**
 * The one spelling of a compact JWS that the PDP accepts (RFC 7515 §7.1 with RFC 7515 §2's
 * base64url "with all trailing '=' characters omitted"). Decoders, jose's included, are lenient:
 * they skip whitespace and padding and ignore the unused low bits of a segment's last character,
 * so without this check one signed token would verify under many strings — and cache keys, logs
 * and deny lists, all keyed by the string, would see different tokens.
 */

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * The value of each base64url character, or -1. Only the last character of a segment is looked up,
 * to check that the bits it carries beyond the encoded bytes are zero.
 */
const VALUE = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].entries()) VALUE[c.charCodeAt(0)] = i;

/**
 * True when `segment` is canonical base64url: only `[A-Za-z0-9_-]`, not empty, no padding, a length
 * that some byte string encodes to, and no unused bit set — i.e. decoding and re-encoding it gives
 * the same string back.
 */
function isCanonicalSegment(segment: string): boolean {
  if (!SEGMENT.test(segment)) return false;
  const tail = segment.length % 4;
  if (tail === 1) return false;
  if (tail === 0) return true;
  const last = VALUE[segment.charCodeAt(segment.length - 1)]!;
  // 2 trailing chars carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
  const unusedMask = tail === 2 ? 0b1111 : 0b11;
  return (last & unusedMask) === 0;
}

/**
 * True when `token` is a compact JWS in its canonical spelling: exactly three segments of canonical
 * base64url separated by `.`, nothing else (no whitespace anywhere); header and payload not empty.
 * An empty signature is the canonical encoding of no bytes: such a token (`alg: none`) is then
 * refused by name by the verifier. Costs one pass over the string and no allocation beyond the
 * split; run it before any decoding or cryptography.
 */
export function isCanonicalCompactJws(token: string): boolean {
  const segments = token.split(".", 4);
  if (segments.length !== 3) return false;
  const [header, payload, signature] = segments as [string, string, string];
  return isCanonicalSegment(header) && isCanonicalSegment(payload) && (signature === "" || isCanonicalSegment(signature));
}
