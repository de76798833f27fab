/**
 * mcp-pdp over AuthZEN (HTTP/1.1 keep-alive, JSON): the same PEP task as {@link pdpTarget} —
 * `open_session`, then `tools/call` evaluations in the session — so that the two doors can be
 * compared on one PDP in one run.
 */
import { Agent, request } from "node:http";
import type { JsonObject } from "@bufbuild/protobuf";
import { SERVER, TOOLS, type Answer, type LaneTokens, type Target } from "./driver.js";

/** What one evaluation answered, as far as the driver needs it. */
interface Decision {
  readonly decision: boolean;
  readonly context?: { readonly reason_code?: string; readonly session_id?: string };
}

/** An AuthZEN target at `baseUrl` (`http://127.0.0.1:PORT`), over at most `connections` kept-alive connections. */
export function authzenTarget(baseUrl: string, tokens: readonly LaneTokens[], connections: number): Target & { close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL("/access/v1/evaluation", baseUrl);
  const evaluate = (body: unknown) =>
    new Promise<Decision>((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = request(
        url,
        { method: "POST", agent, timeout: 10_000, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Decision);
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end(text);
    });
  // Each lane's subject and context, built once (a PEP keeps its task's tokens).
  const lanes = tokens.map((t) => ({
    subject: { type: "identity", id: JSON.parse(Buffer.from(t.userToken.split(".")[1]!, "base64url").toString("utf8")).sub as string, properties: { token: t.userToken } },
    context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: t.workloadToken },
  }));
  const parties = (i: number) => lanes[i % lanes.length]!;
  const answer = (d: Decision): Answer => (d.decision ? { allow: true } : { allow: false, reason: d.context?.reason_code ?? "DENY" });
  return {
    async open(i) {
      const p = parties(i);
      const d = await evaluate({
        subject: p.subject,
        action: { name: "open_session" },
        resource: { type: "mcp_server", id: SERVER },
        context: { ...p.context, tools: [...TOOLS], ttl_seconds: 120 },
      });
      return d.decision ? { allow: true, session: d.context?.session_id } : answer(d);
    },
    async call(i, session, tool, args: JsonObject) {
      const p = parties(i);
      return answer(
        await evaluate({
          subject: p.subject,
          action: { name: "tools/call" },
          resource: { type: "tool", id: tool },
          context: { ...p.context, session_id: session as string, arguments: args },
        }),
      );
    },
    close: () => agent.destroy(),
  };
}
