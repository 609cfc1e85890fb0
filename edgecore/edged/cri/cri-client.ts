import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Client,
  credentials,
  Metadata,
  status as GrpcStatus,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadSync, type AnyDefinition, type ServiceDefinition } from "@grpc/proto-loader";
import { pino, type Logger } from "pino";
import { CriClosedError, CriError, CriProtocolError, CriProtoNotFoundError } from "./errors.js";
import type {
  AttachRequest,
  Container,
  ContainerFilter,
  ContainerStatusResponse,
  CreateContainerRequest,
  ExecRequest,
  ExecSyncRequest,
  ExecSyncResponse,
  Image,
  ImageFilter,
  ImageSpecInput,
  ImageStatusResponse,
  PodSandbox,
  PodSandboxFilter,
  PodSandboxStatusResponse,
  PortForwardRequest,
  PullImageRequest,
  RunPodSandboxRequest,
  StopContainerRequest,
  VersionResponse,
} from "./types.js";

export interface CriClientOptions {
  /**
   * Deadline of each call, in ms (kubelet's --runtime-request-timeout, 2 min by default).
   * StopContainer and ExecSync get their own timeout on top; PullImage has no deadline.
   */
  readonly timeoutMs: number;
  readonly logger?: Logger;
}

/** Per-call overrides. */
export interface CallOptions {
  /** Replaces the call's deadline; `Infinity` for none. */
  readonly timeoutMs?: number;
  /** Cancels the call; it then rejects with a CriError whose grpcCode is CANCELLED. */
  readonly signal?: AbortSignal;
}

/** kubelet's default --runtime-request-timeout. */
export const DEFAULT_CRI_TIMEOUT_MS = 120_000;

/** kubelet's limit for CRI responses (ListContainers on a busy node outgrows gRPC's 4 MiB). */
const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

const PROTO_FILE = "runtime-v1.proto";

/**
 * tsc does not copy .proto files into dist/, so the compiled module (dist/edgecore/edged/cri/)
 * falls back to the source tree: rootDir is the project root, hence four levels up.
 */
function findProtoFile(): string {
  const candidates = [
    new URL(`./${PROTO_FILE}`, import.meta.url),
    new URL(`../../../../edgecore/edged/cri/${PROTO_FILE}`, import.meta.url),
  ].map((url) => fileURLToPath(url));
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined)
    throw new CriProtoNotFoundError(`${PROTO_FILE} not found; looked at ${candidates.join(", ")}`);
  return found;
}

/** Request and response of each unary method used, by service. */
interface Methods {
  readonly RuntimeService: {
    readonly Version: [{ version: string }, VersionResponse];
    readonly RunPodSandbox: [RunPodSandboxRequest, { podSandboxId: string }];
    readonly StopPodSandbox: [{ podSandboxId: string }, object];
    readonly RemovePodSandbox: [{ podSandboxId: string }, object];
    readonly PodSandboxStatus: [
      { podSandboxId: string; verbose: boolean },
      { status: PodSandboxStatusResponse["status"] | null; info: PodSandboxStatusResponse["info"] },
    ];
    readonly ListPodSandbox: [{ filter?: PodSandboxFilter }, { items: PodSandbox[] }];
    readonly CreateContainer: [CreateContainerRequest, { containerId: string }];
    readonly StartContainer: [{ containerId: string }, object];
    readonly StopContainer: [StopContainerRequest, object];
    readonly RemoveContainer: [{ containerId: string }, object];
    readonly ListContainers: [{ filter?: ContainerFilter }, { containers: Container[] }];
    readonly ContainerStatus: [
      { containerId: string; verbose: boolean },
      { status: ContainerStatusResponse["status"] | null; info: ContainerStatusResponse["info"] },
    ];
    readonly ReopenContainerLog: [{ containerId: string }, object];
    readonly ExecSync: [ExecSyncRequest, ExecSyncResponse];
    readonly Exec: [ExecRequest, { url: string }];
    readonly Attach: [AttachRequest, { url: string }];
    readonly PortForward: [PortForwardRequest, { url: string }];
  };
  readonly ImageService: {
    readonly ListImages: [{ filter?: ImageFilter }, { images: Image[] }];
    readonly ImageStatus: [{ image: ImageSpecInput; verbose: boolean }, ImageStatusResponse];
    readonly PullImage: [PullImageRequest, { imageRef: string }];
  };
}
type ServiceName = keyof Methods;

let services: Record<ServiceName, ServiceDefinition> | undefined;

/** Loads the .proto once per process. */
function loadServices(): Record<ServiceName, ServiceDefinition> {
  if (services) return services;
  const definition = loadSync(findProtoFile(), {
    keepCase: false, // camelCase fields, see types.ts
    longs: String, // exact int64 (nanosecond timestamps exceed 2^53)
    enums: String,
    bytes: Buffer,
    defaults: true, // every field present in responses; proto3 omits zero values on the wire
    arrays: true,
    objects: true,
  });
  const service = (name: ServiceName): ServiceDefinition => {
    const found: AnyDefinition | undefined = definition[`runtime.v1.${name}`];
    // Message and enum definitions carry a `format`; services are plain method maps.
    if (found === undefined || "format" in found)
      throw new CriProtoNotFoundError(`${PROTO_FILE} has no service runtime.v1.${name}`);
    return found as ServiceDefinition;
  };
  services = { RuntimeService: service("RuntimeService"), ImageService: service("ImageService") };
  return services;
}

function isServiceError(err: Error): err is ServiceError {
  return typeof (err as Partial<ServiceError>).code === "number";
}

/**
 * A CRI v1 client (RuntimeService and ImageService) on a runtime's unix socket, e.g. containerd's
 * /run/containerd/containerd.sock. One gRPC channel; every call has a deadline. Failures reject
 * with {@link CriError} (the gRPC status and the method); calls after close() with
 * {@link CriClosedError}.
 */
export class CriClient {
  readonly #client: Client;
  readonly #services: Record<ServiceName, ServiceDefinition>;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #inFlight = new Set<ClientUnaryCall>();
  readonly #drainWaiters: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  /** Set by destroy(): the calls it cancels reject with CriClosedError caused by this. */
  #destroyed: { readonly reason: Error | undefined } | undefined;
  #channelClosed = false;

  constructor(
    readonly socketPath: string,
    options: CriClientOptions,
  ) {
    if (!isAbsolute(socketPath)) throw new TypeError(`socketPath: must be absolute, got "${socketPath}"`);
    if (!(options.timeoutMs > 0))
      throw new RangeError(`options.timeoutMs: must be a positive number of ms, got ${options.timeoutMs}`);
    this.#timeoutMs = options.timeoutMs;
    this.#log = (options.logger ?? pino({ level: "info" })).child({ component: "cri", socket: socketPath });
    this.#services = loadServices();
    this.#client = new Client(`unix://${socketPath}`, credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
    });
  }

  // ---- RuntimeService

  version(options?: CallOptions): Promise<VersionResponse> {
    // kubelet sends its CRI API version, "0.1.0"; runtimes answer with theirs and ignore it.
    return this.#call("RuntimeService", "Version", { version: "0.1.0" }, options);
  }

  /** Creates and starts a pod sandbox: its namespaces, its pause container and its network. */
  runPodSandbox(request: RunPodSandboxRequest, options?: CallOptions): Promise<{ podSandboxId: string }> {
    return this.#call("RuntimeService", "RunPodSandbox", request, options);
  }

  /** Stops the sandbox and every container in it (and tears its network down); idempotent. */
  async stopPodSandbox(podSandboxId: string, options?: CallOptions): Promise<void> {
    await this.#call("RuntimeService", "StopPodSandbox", { podSandboxId }, options);
  }

  /** Removes the sandbox and its containers, stopping them first; idempotent. */
  async removePodSandbox(podSandboxId: string, options?: CallOptions): Promise<void> {
    await this.#call("RuntimeService", "RemovePodSandbox", { podSandboxId }, options);
  }

  async podSandboxStatus(
    podSandboxId: string,
    options?: CallOptions & { readonly verbose?: boolean },
  ): Promise<PodSandboxStatusResponse> {
    const method = "PodSandboxStatus";
    const { status, info } = await this.#call(
      "RuntimeService",
      method,
      { podSandboxId, verbose: options?.verbose ?? false },
      options,
    );
    if (status === null) throw new CriProtocolError(`CRI ${method} ${podSandboxId}: response without status`);
    return { status, info };
  }

  async listPodSandbox(filter?: PodSandboxFilter, options?: CallOptions): Promise<PodSandbox[]> {
    const request = filter ? { filter } : {};
    return (await this.#call("RuntimeService", "ListPodSandbox", request, options)).items;
  }

  createContainer(request: CreateContainerRequest, options?: CallOptions): Promise<{ containerId: string }> {
    return this.#call("RuntimeService", "CreateContainer", request, options);
  }

  async startContainer(containerId: string, options?: CallOptions): Promise<void> {
    await this.#call("RuntimeService", "StartContainer", { containerId }, options);
  }

  /**
   * Sends the stop signal, then SIGKILL after `request.timeout` seconds; the call's deadline is
   * that grace plus the client's timeout (as kubelet does).
   */
  async stopContainer(request: StopContainerRequest, options?: CallOptions): Promise<void> {
    const graceMs = Number(request.timeout) * 1000;
    await this.#call("RuntimeService", "StopContainer", request, options, this.#timeoutMs + graceMs);
  }

  /** Removes the container, killing it first if it runs. */
  async removeContainer(containerId: string, options?: CallOptions): Promise<void> {
    await this.#call("RuntimeService", "RemoveContainer", { containerId }, options);
  }

  async listContainers(filter?: ContainerFilter, options?: CallOptions): Promise<Container[]> {
    const request = filter ? { filter } : {};
    return (await this.#call("RuntimeService", "ListContainers", request, options)).containers;
  }

  async containerStatus(
    containerId: string,
    options?: CallOptions & { readonly verbose?: boolean },
  ): Promise<ContainerStatusResponse> {
    const method = "ContainerStatus";
    const { status, info } = await this.#call(
      "RuntimeService",
      method,
      { containerId, verbose: options?.verbose ?? false },
      options,
    );
    if (status === null) throw new CriProtocolError(`CRI ${method} ${containerId}: response without status`);
    return { status, info };
  }

  /** Makes the runtime reopen the container's log file (after log rotation renamed it). */
  async reopenContainerLog(containerId: string, options?: CallOptions): Promise<void> {
    await this.#call("RuntimeService", "ReopenContainerLog", { containerId }, options);
  }

  /**
   * Runs a command in a running container and collects its output. A non-zero exit is a result,
   * not an error. With `request.timeout` seconds the deadline is that plus the client's timeout;
   * without, none (as kubelet does).
   */
  execSync(request: ExecSyncRequest, options?: CallOptions): Promise<ExecSyncResponse> {
    const timeoutS = Number(request.timeout ?? 0);
    const deadlineMs = timeoutS > 0 ? this.#timeoutMs + timeoutS * 1000 : Infinity;
    return this.#call("RuntimeService", "ExecSync", request, options, deadlineMs);
  }

  /** The URL of an exec session on the runtime's streaming server. */
  async exec(request: ExecRequest, options?: CallOptions): Promise<string> {
    return (await this.#call("RuntimeService", "Exec", request, options)).url;
  }

  /** The URL of an attach session on the runtime's streaming server. */
  async attach(request: AttachRequest, options?: CallOptions): Promise<string> {
    return (await this.#call("RuntimeService", "Attach", request, options)).url;
  }

  /** The URL of a port-forward session on the runtime's streaming server. */
  async portForward(request: PortForwardRequest, options?: CallOptions): Promise<string> {
    return (await this.#call("RuntimeService", "PortForward", request, options)).url;
  }

  // ---- ImageService

  async listImages(filter?: ImageFilter, options?: CallOptions): Promise<Image[]> {
    const request = filter ? { filter } : {};
    return (await this.#call("ImageService", "ListImages", request, options)).images;
  }

  /** The image, or `image: null` when the runtime does not have it. */
  imageStatus(
    image: ImageSpecInput,
    options?: CallOptions & { readonly verbose?: boolean },
  ): Promise<ImageStatusResponse> {
    return this.#call("ImageService", "ImageStatus", { image, verbose: options?.verbose ?? false }, options);
  }

  /**
   * Pulls the image; resolves with its reference (the image id). No deadline unless
   * `options.timeoutMs`: a pull over an edge link takes as long as it takes (kubelet sets none).
   */
  pullImage(request: PullImageRequest, options?: CallOptions): Promise<{ imageRef: string }> {
    return this.#call("ImageService", "PullImage", request, options, Infinity);
  }

  // ---- lifecycle

  /** Refuses new calls, waits for those under way, then closes the channel. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight.size > 0) await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
      this.#closeChannel();
    })();
    return this.#closing;
  }

  /**
   * Cancels the calls under way (they reject with CriClosedError caused by `reason`) and closes the
   * channel at once. Safe to call twice, and after close().
   */
  destroy(reason?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = { reason };
    for (const call of this.#inFlight) call.cancel();
    this.#closeChannel();
  }

  #closeChannel(): void {
    if (this.#channelClosed) return;
    this.#channelClosed = true;
    this.#client.close();
  }

  #call<S extends ServiceName, M extends keyof Methods[S] & string>(
    service: S,
    method: M,
    request: Methods[S][M] extends [infer Req extends object, unknown] ? Req : never,
    options: CallOptions | undefined,
    defaultDeadlineMs = this.#timeoutMs,
  ): Promise<Methods[S][M] extends [unknown, infer Res] ? Res : never> {
    type Res = Methods[S][M] extends [unknown, infer R] ? R : never;
    if (this.#destroyed || this.#closing)
      return Promise.reject(new CriClosedError(`CRI ${method}: the client is closed`));
    const definition = this.#services[service][method];
    if (definition === undefined)
      return Promise.reject(new CriProtoNotFoundError(`${PROTO_FILE} has no ${service}.${method}`));
    const signal = options?.signal;
    if (signal?.aborted)
      return Promise.reject(new CriError(method, GrpcStatus.CANCELLED, "aborted", { cause: signal.reason }));
    const timeoutMs = options?.timeoutMs ?? defaultDeadlineMs;
    const started = performance.now();
    return new Promise<Res>((resolve, reject) => {
      const call = this.#client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : Infinity },
        (err, response) => {
          this.#inFlight.delete(call);
          signal?.removeEventListener("abort", onAbort);
          if (this.#inFlight.size === 0) for (const wake of this.#drainWaiters.splice(0)) wake();
          const ms = Math.round(performance.now() - started);
          if (err) {
            this.#log.debug({ method, ms, code: err.code }, "CRI call failed");
            reject(this.#wrapError(method, err, signal));
          } else if (response === undefined) {
            reject(new CriProtocolError(`CRI ${method}: empty response`));
          } else {
            this.#log.trace({ method, ms }, "CRI call");
            // The deserializer builds the object from runtime-v1.proto with the loader options
            // above; the Methods table is written to match it (types.ts).
            resolve(response as Res);
          }
        },
      );
      const onAbort = (): void => call.cancel();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#inFlight.add(call);
    });
  }

  #wrapError(method: string, err: Error, signal: AbortSignal | undefined): Error {
    if (this.#destroyed)
      return new CriClosedError(`CRI ${method}: the client was destroyed`, {
        cause: this.#destroyed.reason ?? err,
      });
    if (!isServiceError(err)) return new CriError(method, GrpcStatus.UNKNOWN, err.message, { cause: err });
    const cause = err.code === GrpcStatus.CANCELLED && signal?.aborted ? signal.reason : err;
    return new CriError(method, err.code, err.details, { cause });
  }
}
