import tls from "node:tls";
import net from "node:net";
import { fork } from "node:child_process";
import { CertificateAuthority, issueServingCertificate } from "../protocol/pki.js";
import WebSocket, { WebSocketServer } from "ws";
import https from "node:https";

const mode = process.argv[2] ?? "server";
const N = 2000;
if (mode === "server") {
  const ca = await CertificateAuthority.create("exp");
  const srv = await issueServingCertificate(ca, { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  const client = await ca.issue({ subject: "CN=node1, O=system:nodes", usage: "client" });
  const caPem = ca.certificate.toString("pem");
  const server = https.createServer({ cert: srv.certPem, key: srv.keyPem, ca: caPem, requestCert: true });
  const wss = new WebSocketServer({ server });
  wss.on("connection", () => {});
  server.on("secureConnection", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  for (const m of ["tcp", "tls-own", "tls-shared", "ws-own"]) {
    const child = fork(process.argv[1]!, [m, String(port)], { execArgv: ["--import", "tsx", "--expose-gc"], env: { ...process.env, CA: caPem, CERT: client.certPem, KEY: client.keyPem } });
    await new Promise((r) => child.on("exit", r));
  }
  process.exit(0);
} else {
  const port = Number(process.argv[3]);
  const { CA: ca, CERT: cert, KEY: key } = process.env as Record<string, string>;
  const rss = () => { (globalThis as any).gc(); return process.memoryUsage(); };
  const before = rss();
  const keep: unknown[] = [];
  const shared = tls.createSecureContext({ ca, cert, key });
  for (let i = 0; i < N; i += 100) {
    await Promise.all(Array.from({ length: 100 }, () => new Promise<void>((res, rej) => {
      if (mode === "tcp") {
        const s = net.connect({ host: "127.0.0.1", port }, () => res()); s.on("error", rej); keep.push(s);
      } else if (mode === "ws-own") {
        const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { ca, cert, key, perMessageDeflate: false });
        ws.on("open", () => res()); ws.on("error", rej); keep.push(ws);
      } else {
        const opts = mode === "tls-own" ? { ca, cert, key } : { secureContext: shared };
        const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts }, () => res());
        s.on("error", rej); keep.push(s);
      }
    })));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss();
  console.log(mode, "rss KiB/conn", ((after.rss - before.rss) / N / 1024).toFixed(1), "heap KiB/conn", ((after.heapUsed - before.heapUsed) / N / 1024).toFixed(1), "external", ((after.external - before.external)/N/1024).toFixed(1));
  process.exit(0);
}
