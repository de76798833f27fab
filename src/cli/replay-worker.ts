/** A worker thread of `policy replay`: one {@link ReplayPart}, driven by messages from the CLI. */
import "../policy/v8-guard.js";
import { parentPort, workerData } from "node:worker_threads";
import type { ReplayReport } from "../decision/replay-tally.js";
import { PdpError } from "../errors.js";
import { ReplayPart, type ReplayPartInit } from "./replay-part.js";

/** Messages the CLI sends. */
export type ReplayWorkerRequest =
  | { readonly type: "version"; readonly version: string; readonly files: readonly { readonly path: string; readonly text: string }[] | undefined }
  | { readonly type: "batch"; readonly lines: readonly string[] }
  | { readonly type: "end" };

/** Messages the worker sends. */
export type ReplayWorkerAnswer =
  | { readonly type: "ready" }
  | { readonly type: "refused"; readonly message: string }
  | { readonly type: "version-refused"; readonly version: string; readonly message: string }
  | { readonly type: "done"; readonly read: number; readonly flips: number }
  | { readonly type: "report"; readonly report: ReplayReport };

const port = parentPort!;
const send = (m: ReplayWorkerAnswer) => port.postMessage(m);
let part: ReplayPart | undefined;
try {
  part = new ReplayPart(workerData as ReplayPartInit);
} catch (err) {
  send({ type: "refused", message: PdpError.from(err).message });
  port.close();
}
if (part) {
  const p = part;
  port.on("message", (m: ReplayWorkerRequest) => {
    if (m.type === "version") {
      const refused = p.version(m.version, m.files);
      if (refused !== undefined) send({ type: "version-refused", version: m.version, message: refused });
    } else if (m.type === "batch") {
      p.batch(m.lines);
      send({ type: "done", ...p.progress() });
    } else {
      send({ type: "report", report: p.report() });
      port.close();
    }
  });
  send({ type: "ready" });
}
