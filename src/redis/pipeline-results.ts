/** The replies of an executed ioredis pipeline, in order; a command error (or a missing reply) throws. */
export function pipelineResults(res: Array<[Error | null, unknown]> | null, expected: number): unknown[] {
  if (!res || res.length !== expected) throw new Error("pipeline returned no result");
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
