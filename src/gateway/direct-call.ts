import http from "node:http";
import https from "node:https";
import type { ServerResponse } from "node:http";
import type { JSONRPCRequest, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { decisionMeta } from "../pep/denial-result.js";
import type { PepDecision } from "../pep/pep-decision.js";
import { UPSTREAM_UNAVAILABLE } from "./relay-server.js";

/** Where a client session's own upstream MCP session is reached over HTTP. */
export interface DirectTarget {
  readonly url: URL;
  /** The upstream session's id and protocol version, and the configured upstream headers. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Keep-alive connections to HTTP upstreams, shared by every client session. */
const agents = { "http:": new http.Agent({ keepAlive: true, maxSockets: 256 }), "https:": new https.Agent({ keepAlive: true, maxSockets: 256 }) };

/** Longest silence (no byte from the upstream) of one call, as the SDK client's default request timeout. */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * Largest answer (or one SSE event) of one call the gateway holds, in UTF-16 code units of the
 * decoded text (about bytes for ASCII JSON); past it the call fails and the upstream connection is
 * dropped — an upstream cannot make the gateway hold an unbounded answer.
 */
export const MAX_ANSWER_CHARS = 64 * 1024 * 1024;

let sequence = 0;

/**
 * Relays one allowed `tools/call` of a client session straight to its own upstream MCP session:
 * the JSON-RPC request as the client sent it (under an id of the gateway's, so that it cannot
 * clash with the gateway's own requests on that session), the answer back under the client's id
 * with the decision in its `_meta` — the same answer the SDK relay gives, without an SDK server,
 * an SDK client and `fetch` per call (the gateway's own cost; bench/RESULTS.md). An SSE answer is
 * streamed: the notifications before the result (progress under the client's own token, log
 * messages) pass through as they come; a result that comes before any notification is answered
 * as one JSON body (the client accepts both), which the client reads without an SSE parser. Used only for sessions whose client declared no sampling,
 * elicitation or roots (the upstream then sends no server→client request on the call's stream).
 * `onLost` is called when the upstream no longer knows the session (HTTP 404). `inFlight` maps the
 * client's id of each call under way to the gateway's (so that a cancellation can be relayed);
 * `cancel` tells the upstream that a call was abandoned (the client closed its stream first).
 */
export function relayToolCallDirect(
  target: DirectTarget,
  request: JSONRPCRequest,
  decision: PepDecision,
  res: ServerResponse,
  sessionId: string,
  onLost: () => void,
  inFlight: Map<RequestId, string>,
  cancel: (upstreamId: string, reason: string) => void,
): Promise<void> {
  const upstreamId = `mcp-pdp-${++sequence}`;
  inFlight.set(request.id, upstreamId);
  const payload = JSON.stringify({ ...request, id: upstreamId });
  const answer = (message: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...message, id: request.id };
    const result = message.result as Record<string, unknown> | undefined;
    if (result && typeof result === "object") out.result = { ...result, _meta: { ...(result._meta as object | undefined), ...decisionMeta(decision) } };
    return out;
  };
  const failure = (message: string) => ({ jsonrpc: "2.0", id: request.id, error: { code: UPSTREAM_UNAVAILABLE, message: `the upstream MCP server did not answer: ${message}` } });

  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight.delete(request.id);
      resolve();
    };
    const replyJson = (body: unknown) => {
      if (res.headersSent) {
        if (!res.writableEnded) res.end(`event: message\ndata: ${JSON.stringify(body)}\n\n`);
      } else {
        const text = JSON.stringify(body);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "mcp-session-id": sessionId }).end(text);
      }
      finish();
    };
    const upstream = (target.url.protocol === "https:" ? https : http).request(target.url, {
      method: "POST",
      agent: agents[target.url.protocol as "http:" | "https:"],
      headers: { ...target.headers, "content-type": "application/json", accept: "application/json, text/event-stream", "content-length": Buffer.byteLength(payload) },
    });
    const tooLarge = () => {
      replyJson(failure(`an answer larger than ${MAX_ANSWER_CHARS} characters`));
      upstream.destroy();
    };
    upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy(new Error(`no answer for ${IDLE_TIMEOUT_MS} ms`)));
    // The client went away before the answer: the upstream is told the call is cancelled.
    res.on("close", () => {
      if (!done && !res.writableFinished) {
        cancel(upstreamId, "the client closed the call's stream");
        upstream.destroy();
      }
      finish();
    });
    upstream.on("error", (err) => replyJson(failure(err.message)));
    upstream.on("response", (up) => {
      const type = String(up.headers["content-type"] ?? "");
      if (up.statusCode === 404) onLost();
      if (up.statusCode !== 200 || (!type.startsWith("application/json") && !type.startsWith("text/event-stream"))) {
        up.resume();
        return replyJson(failure(`HTTP ${up.statusCode}`));
      }
      up.setEncoding("utf8");
      if (type.startsWith("application/json")) {
        let text = "";
        up.on("data", (chunk: string) => {
          text += chunk;
          if (text.length > MAX_ANSWER_CHARS) tooLarge();
        });
        up.on("end", () => {
          try {
            const message = JSON.parse(text) as Record<string, unknown>;
            replyJson(message.id === upstreamId ? answer(message) : failure("an answer to another request"));
          } catch {
            replyJson(failure("an unreadable answer"));
          }
        });
        return;
      }
      // The client's stream is opened at the first notification; an answer that comes alone goes
      // back as one JSON body (the client asked for either): one write, no SSE for it to parse.
      const openStream = () => {
        if (!res.headersSent) res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "mcp-session-id": sessionId });
      };
      let buffer = "";
      let last = "";
      up.on("data", (chunk: string) => {
        const text = chunk.replace(/\r\n/g, "\n");
        // The buffer is searched only when what arrived ends an event: a long event is not rescanned per chunk.
        const ends = (last + text).includes("\n\n");
        last = text.slice(-1) || last;
        buffer += text;
        if (buffer.length > MAX_ANSWER_CHARS) return tooLarge();
        if (!ends) return;
        for (let end = buffer.indexOf("\n\n"); end >= 0 && !done; end = buffer.indexOf("\n\n")) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).replace(/^ /, ""))
            .join("\n");
          if (!data) continue;
          let message: Record<string, unknown>;
          try {
            message = JSON.parse(data) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (message.id === upstreamId && ("result" in message || "error" in message)) {
            // The upstream ends this stream after its answer; the connection stays for the next call.
            replyJson(answer(message));
            return;
          }
          // Notifications of this call (progress, log messages) pass through as they are.
          if (!("id" in message)) {
            openStream();
            res.write(`event: message\ndata: ${data}\n\n`);
          }
        }
      });
      up.on("end", () => {
        if (!done) replyJson(failure("the stream ended without an answer"));
      });
      up.on("error", (err) => replyJson(failure(err.message)));
    });
    upstream.end(payload);
  });
}
