import { createServer, type Server } from "node:http";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import { requiresAck } from "../protocol/ack-policy.js";
import type { Message } from "../protocol/message.js";
import { ensureCrds } from "./devices/crd-installer.js";
import { DEFAULT_DEVICE_PROTOCOLS, deviceCrd, deviceModelCrd, deviceStatusCrd } from "./devices/crds.js";
import { DeviceController } from "./devices/device-controller.js";
import { VALIDATE_DEVICES_PATH, ValidationWebhook } from "./devices/validation-webhook.js";
import type { DownstreamSink } from "./controllers/downstream-message.js";
import { EdgeController } from "./controllers/edge-controller.js";
import { NodeHealth } from "./controllers/node-health.js";
import { Upstream } from "./controllers/upstream.js";
import { MemoryAckStore, type AckStore } from "./hub/ack-store.js";
import { CertificateServer, DEFAULT_CERTIFICATE_PORT } from "./hub/certificate-server.js";
import { CloudHub, CLOUDHUB_DEFAULTS } from "./hub/cloudhub.js";
import { RedisAckStore } from "./hub/redis-ack-store.js";
import { KubeRest } from "./kube/kube-rest.js";
import { createCloudcoreMetrics, type CloudcoreMetrics } from "./metrics.js";
import { DEFAULT_CLOUD_NAMESPACE, loadOrCreateCa } from "./security/ca-store.js";
import { JoinTokens } from "./security/join-tokens.js";

export interface CloudcoreOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespace of cloudcore's Secrets (CA, join tokens). */
  readonly namespace?: string;
  readonly advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly host?: string;
  readonly tunnelPort?: number;
  readonly kubeedgePort?: number | null;
  readonly certificatePort?: number;
  /** Port of /metrics, /healthz and /readyz; null turns it off. */
  readonly metricsPort?: number | null;
  /** Redis for acked versions (shared by replicas, survives restarts); memory if absent. */
  readonly redisUrl?: string;
  readonly keepaliveTimeoutMs?: number;
  readonly ackTimeoutMs?: number;
  readonly offlineGraceMs?: number;
  readonly maxAutonomyMs?: number;
  readonly leaseRenewIntervalMs?: number;
  /** Protocols a Device may name (the Device CRD's CEL rule). */
  readonly deviceProtocols?: readonly string[];
  /**
   * The Device validating webhook: its port, and the URL the apiserver calls (default
   * `https://<first advertised address>:<port>/validate/devices`). null: not served, not registered.
   */
  readonly deviceWebhook?: { readonly port: number; readonly url?: string } | null;
  readonly logger?: Logger;
}

/**
 * One cloudcore process: certificate server, cloudhub (tunnels), EdgeController (downstream and
 * upstream), offline-autonomy health keeping, and metrics, wired together.
 */
export class Cloudcore {
  readonly #upstreamChains = new Map<string, Promise<void>>();

  private constructor(
    readonly hub: CloudHub,
    readonly certificates: CertificateServer,
    readonly tokens: JoinTokens,
    readonly edge: EdgeController,
    readonly devices: DeviceController,
    readonly webhook: ValidationWebhook | undefined,
    readonly upstream: Upstream,
    readonly health: NodeHealth,
    readonly metrics: CloudcoreMetrics,
    private readonly rest: KubeRest,
    private readonly redis: Redis | undefined,
    private readonly httpServer: Server | undefined,
    private readonly log: Logger,
  ) {}

  static async start(options: CloudcoreOptions): Promise<Cloudcore> {
    const log = options.logger ?? pino({ level: "info" });
    const metrics = createCloudcoreMetrics();
    const namespace = options.namespace ?? DEFAULT_CLOUD_NAMESPACE;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const ca = await loadOrCreateCa(core, namespace);
    const tokens = new JoinTokens(core, ca, { namespace });
    const rest = await KubeRest.create(options.kubeConfig, metrics.apiserverLatency);
    const redis = options.redisUrl ? new Redis(options.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
    const ackStore: AckStore = redis ? new RedisAckStore(redis) : new MemoryAckStore();
    const host = options.host ?? CLOUDHUB_DEFAULTS.host;
    const started: { close(): unknown }[] = [];
    let sink: DownstreamSink;
    try {
      const certificates = await CertificateServer.start({
        ca,
        tokens,
        metrics,
        advertise: options.advertise,
        host,
        port: options.certificatePort ?? DEFAULT_CERTIFICATE_PORT,
        logger: log,
      });
      started.push(certificates);
      const hub = await CloudHub.start({
        ca,
        metrics,
        advertise: options.advertise,
        host,
        ackStore,
        logger: log,
        ...(options.tunnelPort !== undefined && { port: options.tunnelPort }),
        ...(options.kubeedgePort !== undefined && { kubeedgePort: options.kubeedgePort }),
        ...(options.keepaliveTimeoutMs !== undefined && { keepaliveTimeoutMs: options.keepaliveTimeoutMs }),
        ...(options.ackTimeoutMs !== undefined && { ackTimeoutMs: options.ackTimeoutMs }),
      });
      started.push(hub);
      metrics.setSyncLagSource(() => hub.delivery.syncLag());
      const isConnected = (node: string): boolean => hub.sessions.get(node) !== undefined;
      const edge = new EdgeController({
        kubeConfig: options.kubeConfig,
        rest,
        metrics,
        log,
        sink: (sink = {
          deliver: (node, message, meta) => {
            if (requiresAck(message)) return hub.delivery.deliver(node, message, meta);
            hub.send(node, message);
            return Promise.resolve();
          },
          acked: (node) => hub.delivery.acked(node),
          isConnected,
          forgetNode: (node) => hub.delivery.forgetNode(node),
        }),
      });
      await ensureCrds(
        rest,
        [deviceModelCrd(), deviceCrd(options.deviceProtocols ?? DEFAULT_DEVICE_PROTOCOLS), deviceStatusCrd()],
        log,
      );
      const devices = new DeviceController({
        kubeConfig: options.kubeConfig,
        rest,
        sink,
        isEdgeNode: (node) => edge.isEdgeNode(node),
        metrics,
        log,
      });
      edge.addDesiredSource(devices);
      let webhook: ValidationWebhook | undefined;
      if (options.deviceWebhook) {
        webhook = await ValidationWebhook.start({
          ca,
          advertise: options.advertise,
          host,
          port: options.deviceWebhook.port,
          model: (namespace, name) => devices.model(namespace, name),
          log,
        });
        started.push(webhook);
        const address = options.advertise.ipAddresses[0] ?? options.advertise.dnsNames[0] ?? "127.0.0.1";
        const hostPart = address.includes(":") ? `[${address}]` : address;
        await webhook.register(
          rest,
          options.deviceWebhook.url ?? `https://${hostPart}:${webhook.port}${VALIDATE_DEVICES_PATH}`,
        );
      }
      const upstream = new Upstream({ rest, edge, metrics, log });
      const health = new NodeHealth({
        rest,
        log,
        edgeNodes: () => edge.nodes.list().map((n) => n.metadata?.name ?? ""),
        nodeObject: (node) => edge.nodes.get("", node),
        isConnected,
        ...(options.offlineGraceMs !== undefined && { offlineGraceMs: options.offlineGraceMs }),
        ...(options.maxAutonomyMs !== undefined && { maxAutonomyMs: options.maxAutonomyMs }),
        ...(options.leaseRenewIntervalMs !== undefined && { renewIntervalMs: options.leaseRenewIntervalMs }),
      });
      const httpServer =
        options.metricsPort === null
          ? undefined
          : await serveMetrics(metrics, host, options.metricsPort ?? 9091, edge);
      const cloudcore = new Cloudcore(
        hub,
        certificates,
        tokens,
        edge,
        devices,
        webhook,
        upstream,
        health,
        metrics,
        rest,
        redis,
        httpServer,
        log.child({ component: "cloudcore" }),
      );
      cloudcore.#wire();
      await Promise.all([edge.start(), devices.start()]);
      health.start();
      return cloudcore;
    } catch (err) {
      for (const s of started.reverse()) await s.close();
      rest.close();
      redis?.disconnect();
      throw err;
    }
  }

  get metricsPort(): number | undefined {
    const address = this.httpServer?.address();
    return typeof address === "object" && address ? address.port : undefined;
  }

  #wire(): void {
    this.hub.setHandlers({
      onConnect: (session) => {
        this.health.connected(session.nodeName);
        void this.edge.resync(session.nodeName).catch((err: unknown) => {
          this.log.error(
            { node: session.nodeName, err: (err as Error).message },
            "resync after connect failed",
          );
        });
      },
      onDisconnect: (session) => {
        // A replaced session is followed by the new one: the node is still connected.
        if (!this.hub.sessions.get(session.nodeName)) this.health.disconnected(session.nodeName);
      },
      onMessage: (session, message) => this.#upstream(session.nodeName, message),
    });
  }

  /** Requests of one node are handled in arrival order (a later status never lands first). */
  #upstream(node: string, message: Message): void {
    const previous = this.#upstreamChains.get(node) ?? Promise.resolve();
    const next = previous
      .then(
        async () => (await this.devices.handleUpstream(node, message)) ?? this.upstream.handle(node, message),
      )
      .then((reply) => {
        if (reply) this.hub.send(node, reply);
      })
      .catch((err: unknown) => this.log.error({ node, err }, "upstream handling failed"))
      .finally(() => {
        if (this.#upstreamChains.get(node) === next) this.#upstreamChains.delete(node);
      });
    this.#upstreamChains.set(node, next);
  }

  async close(): Promise<void> {
    await this.health.stop();
    await this.hub.close();
    await this.edge.stop();
    await this.devices.stop();
    await this.webhook?.close();
    await this.certificates.close();
    await Promise.allSettled([...this.#upstreamChains.values()]);
    await new Promise<void>((resolve) =>
      this.httpServer ? this.httpServer.close(() => resolve()) : resolve(),
    );
    this.rest.close();
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

async function serveMetrics(
  metrics: CloudcoreMetrics,
  host: string,
  port: number,
  edge: EdgeController,
): Promise<Server> {
  let ready = false;
  void edge.start().then(() => (ready = true));
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === "/healthz") {
      res.end("ok");
    } else if (req.url === "/readyz") {
      res.writeHead(ready ? 200 : 503);
      res.end(ready ? "ok" : "caches not synced");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
