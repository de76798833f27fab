/**
 * The revocation/index value of a user: `"<iss>#<sub>"`. Issuers carry no fragment, so the first
 * `#` separates the two unambiguously.
 */
export function userRef(issuer: string, subject: string): string {
  return `${issuer}#${subject}`;
}
