/** Test certificates made with openssl: a CA, a server certificate for 127.0.0.1/localhost, client certificates with URI SANs. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Makes a CA, a server certificate for 127.0.0.1 and client certificates with the given URI SANs. */
export function makeCertificates(clientUris: string[]): { dir: string; client: (i: number) => { key: Buffer; cert: Buffer } } {
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca");
  const issue = (name: string, subj: string, san: string) => {
    writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj);
    run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "1", "-extfile", `${name}.ext`);
  };
  issue("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1");
  clientUris.forEach((uri, i) => issue(`client${i}`, `/CN=client${i}`, `URI:${uri}`));
  return {
    dir,
    client: (i) => ({ key: readFileSync(path.join(dir, `client${i}.key`)), cert: readFileSync(path.join(dir, `client${i}.crt`)) }),
  };
}
