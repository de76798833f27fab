/**
 * Strict SPIFFE ID parsing (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md).
 * Hand-written rather than `new URL()`, which would normalise `.`/`..` segments, percent-encoding
 * and letter case instead of refusing them.
 */

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  /** The whole ID, exactly as given (`spiffe://<trust-domain>/<path>`). */
  readonly id: string;
  /** The trust domain, e.g. `prod.example.org`. */
  readonly trustDomain: string;
  /** The path, with its leading slash, e.g. `/agent/research-assistant`. */
  readonly path: string;
}

const SCHEME = "spiffe://";
const MAX_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Parses `value` as a SPIFFE ID, or returns `undefined` when it is not a valid one: another scheme,
 * an empty or non-lowercase trust domain, a port, userinfo, a query or fragment, an empty path, an
 * empty, `.` or `..` segment, or a character outside `[A-Za-z0-9._-]` in a segment.
 */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (!value.startsWith(SCHEME) || value.length > MAX_ID_LENGTH) return undefined;
  const rest = value.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const path = rest.slice(slash);
  if (!isTrustDomain(trustDomain) || !isPath(path)) return undefined;
  return { id: value, trustDomain, path };
}

/** True when `value` is a valid SPIFFE trust domain name (lowercase letters, digits, `.`, `-`, `_`). */
export function isTrustDomain(value: string): boolean {
  return value.length > 0 && value.length <= MAX_TRUST_DOMAIN_LENGTH && TRUST_DOMAIN.test(value);
}

function isPath(path: string): boolean {
  const segments = path.slice(1).split("/");
  return segments.every((s) => s !== "." && s !== ".." && PATH_SEGMENT.test(s));
}
