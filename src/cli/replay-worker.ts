/** A worker thread of `policy replay`: one {@link ReplayPart}, driven by messages from the CLI. */
import "../policy/v8-guard.js";
import { parentPort, workerData } from "node:worker_threads";
import { ReplayPart, type ReplayPartInit } from "./replay-part.js";

/** Messages the CLI sends. */
export type ReplayWorkerRequest =
  | { readonly type: "version"; readonly version: string; readonly files: readonly { readonly path: string; readonly text: string }[] | undefined }
  | { readonly type: "batch"; readonly lines: readonly string[] }
  | { readonly type: "end" };

const port = parentPort!;
const part = new ReplayPart(workerData as ReplayPartInit);
port.on("message", (m: ReplayWorkerRequest) => {
  if (m.type === "version") part.version(m.version, m.files);
  else if (m.type === "batch") {
    part.batch(m.lines);
    port.postMessage({ type: "done", ...part.progress() });
  } else {
    port.postMessage({ type: "report", report: part.report() });
    port.close();
  }
});
port.postMessage({ type: "ready" });
