/** Deletes the bench's Redis keys (those under its random prefix) with plain ioredis. */
import { Redis } from "ioredis";

/** Deletes every key under `prefix` (SCAN + UNLINK); returns how many. */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  if (!prefix) throw new Error("refusing to delete keys without a prefix");
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, commandTimeout: 10_000 });
  await c.connect();
  try {
    let cursor = "0";
    let deleted = 0;
    do {
      const [next, keys] = await c.scan(cursor, "MATCH", `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 1000);
      cursor = next;
      const mine = keys.filter((k) => k.startsWith(prefix));
      if (mine.length) deleted += await c.unlink(...mine);
    } while (cursor !== "0");
    return deleted;
  } finally {
    c.disconnect();
  }
}
