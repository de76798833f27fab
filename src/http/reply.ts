import type { ServerResponse } from "node:http";
import { HttpError } from "./http-error.js";

/** Answers with a JSON body (`Content-Type: application/json`; `Cache-Control: no-store` unless `headers` say otherwise). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "cache-control": "no-store",
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Answers a refusal: the status and `{ "error": message }` (the AuthZEN binding asks for an error
 * message; a JSON object keeps every answer of this server JSON). Anything that is not an
 * HttpError is a 500 that says nothing of its cause.
 */
export function sendError(res: ServerResponse, err: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = err instanceof HttpError ? err : new HttpError(500, "internal error");
  // A request body left unread is not drained: the connection closes after the answer.
  const unread: Record<string, string> = res.req && !res.req.complete ? { connection: "close" } : {};
  sendJson(res, e.status, { error: e.message }, { ...headers, ...unread, ...e.headers });
}
