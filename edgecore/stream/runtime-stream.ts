import { connect, type Socket } from "node:net";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  StreamRequestError,
  type ExecRequest,
  type PortForwardRequest,
  type StreamConnectRequest,
} from "../../protocol/stream-request.js";
import type { CriClient } from "../edged/cri/cri-client.js";
import { CriError } from "../edged/cri/errors.js";
import { Labels } from "../edged/runtime-config.js";

/** Headers of the apiserver's request that the runtime's streaming server needs, or that say who asked. */
const FORWARDED_HEADERS = [
  "connection",
  "upgrade",
  "x-stream-protocol-version",
  "user-agent",
  "x-forwarded-for",
];

/**
 * Opens an exec, attach or port-forward session on the runtime's streaming server, as the kubelet
 * does: it asks CRI for a URL (a single-use token valid for a minute), dials it, and writes the
 * apiserver's upgrade request with the token's path. Returns the connected socket with the request
 * written; the runtime's own `101 Switching Protocols` (or error) and the SPDY session that follows
 * are the caller's to relay, untouched.
 */
export async function openRuntimeStream(
  cri: CriClient,
  node: string,
  request: ExecRequest | PortForwardRequest,
  connectRequest: StreamConnectRequest,
): Promise<Socket> {
  const url = new URL(await runtimeUrl(cri, node, request));
  if (url.protocol !== "http:")
    throw new StreamRequestError(
      502,
      `the runtime's streaming URL ${url.origin} is not plain HTTP (enable_tls_streaming is not supported)`,
    );
  const socket = connect({ host: url.hostname, port: Number(url.port || 80) });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", (err) =>
      reject(
        new StreamRequestError(502, `dialling the runtime's streaming server ${url.host}: ${err.message}`),
      ),
    );
  });
  socket.setNoDelay(true);
  let head = `${connectRequest.method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const name of FORWARDED_HEADERS)
    for (const value of connectRequest.headers.get(name) ?? [])
      if (!/[\r\n]/.test(value)) head += `${name}: ${value}\r\n`;
  socket.write(`${head}\r\n`, "latin1");
  return socket;
}

async function runtimeUrl(
  cri: CriClient,
  node: string,
  request: ExecRequest | PortForwardRequest,
): Promise<string> {
  const pod = {
    [Labels.node]: node,
    [Labels.podNamespace]: request.namespace,
    [Labels.podName]: request.pod,
  };
  try {
    if (request.kind === "portForward") {
      const sandboxes = await cri.listPodSandbox({ labelSelector: pod, state: { state: "SANDBOX_READY" } });
      const sandbox = [...sandboxes].sort((a, b) => Number(b.createdAt ?? 0) - Number(a.createdAt ?? 0))[0];
      if (!sandbox) throw new StreamRequestError(404, `pod "${request.pod}" does not exist`);
      return await cri.portForward({ podSandboxId: sandbox.id, port: request.ports });
    }
    const running = await cri.listContainers({
      labelSelector: { ...pod, [Labels.containerName]: request.container },
      state: { state: "CONTAINER_RUNNING" },
    });
    const container = running[0];
    if (!container) {
      const sandboxes = await cri.listPodSandbox({ labelSelector: pod });
      throw new StreamRequestError(
        404,
        sandboxes.length === 0
          ? `pod "${request.pod}" does not exist`
          : `container "${request.container}" in pod "${request.pod}" is not running`,
      );
    }
    const io = { stdin: request.stdin, stdout: request.stdout, stderr: request.stderr, tty: request.tty };
    return request.kind === "exec"
      ? await cri.exec({ containerId: container.id, cmd: request.command, ...io })
      : await cri.attach({ containerId: container.id, ...io });
  } catch (err) {
    if (err instanceof CriError)
      throw new StreamRequestError(
        err.grpcCode === GrpcStatus.INVALID_ARGUMENT
          ? 400
          : err.grpcCode === GrpcStatus.NOT_FOUND
            ? 404
            : 500,
        err.message,
      );
    throw err;
  }
}
