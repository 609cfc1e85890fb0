import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface ProbeTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** GETs `url` and resolves with the status code and body; rejects on connection errors. */
export function httpGet(
  url: string,
  tls?: ProbeTls,
  timeoutMs = 2000,
): Promise<{ readonly status: number; readonly body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const options = {
      method: "GET",
      timeout: timeoutMs,
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
    };
    const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** True when GET `url` answers 200. */
export async function httpOk(url: string, tls?: ProbeTls): Promise<boolean> {
  return (await httpGet(url, tls)).status === 200;
}
