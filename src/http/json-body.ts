import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";

/** A JSON object as parsed (values still unchecked). */
export type JsonRecord = { readonly [key: string]: unknown };

/** True for a JSON object (not an array, not null). */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function tooLarge(maxBytes: number): HttpError {
  // The rest of the body is not read: the connection closes after the answer.
  return new HttpError(413, `request body is larger than ${maxBytes} bytes`, { connection: "close" });
}

/**
 * Reads a request body that must be one JSON object, at most `maxBytes`: a declared length over
 * the bound is refused before a byte is read, a streamed body as soon as it passes it (413); a
 * body that is not JSON, or not an object, is a 400 that says why; a wrong media type a 415.
 */
export async function readJsonObject(req: IncomingMessage, maxBytes: number): Promise<JsonRecord> {
  const type = req.headers["content-type"];
  if (!type || !/^application\/json\s*(;|$)/i.test(type)) throw new HttpError(415, "Content-Type must be application/json", { connection: "close" });
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      // Stop reading (not destroy: the 413 still has to be written); the socket closes after it.
      req.off("data", onData);
      req.pause();
      reject(tooLarge(maxBytes));
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", reject);
  });
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(value)) throw new HttpError(400, "request body must be a JSON object");
  return value;
}
