/** An HTTP answer that refuses a request as a whole (400, 401, 404, 405, 413, 415): the status and a caller-safe message. */
export class HttpError extends Error {
  override readonly name = "HttpError";

  constructor(
    /** The HTTP status. */
    readonly status: number,
    message: string,
    /** Headers the answer must carry (e.g. `WWW-Authenticate`, `Allow`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
