import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { isIP } from "node:net";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { pino, type Logger } from "pino";
import { requiresAck } from "../protocol/ack-policy.js";
import type { Message } from "../protocol/message.js";
import { ResourceType } from "../protocol/constants.js";
import { ClusterKeys } from "./cluster/keys.js";
import { OWNER_ANNOTATION, OWNER_EPOCH_ANNOTATION } from "./cluster/node-fence.js";
import { NodeOwnership, OwnershipUnavailableError } from "./cluster/node-ownership.js";
import { LocalOwnership, type Ownership } from "./cluster/ownership.js";
import { Rebalancer } from "./cluster/rebalancer.js";
import type { RedisClient } from "./cluster/redis-client.js";
import { RedisEndpoint } from "./cluster/redis-endpoint.js";
import { ReplicaRegistry } from "./cluster/replica-registry.js";
import { TunnelPortAllocator } from "./cluster/tunnel-ports.js";
import { ConfigError } from "./config.js";
import { ensureCrds } from "./devices/crd-installer.js";
import { DEFAULT_DEVICE_PROTOCOLS, deviceCrds } from "./devices/crds.js";
import { DeviceController } from "./devices/device-controller.js";
import { VALIDATE_DEVICES_PATH, ValidationWebhook } from "./devices/validation-webhook.js";
import type { DownstreamSink } from "./controllers/downstream-message.js";
import { EdgeController } from "./controllers/edge-controller.js";
import { NodeHealth } from "./controllers/node-health.js";
import { Upstream } from "./controllers/upstream.js";
import { MemoryAckStore, type AckStore } from "./hub/ack-store.js";
import { CertificateServer, DEFAULT_CERTIFICATE_PORT } from "./hub/certificate-server.js";
import { CloudHub, CLOUDHUB_DEFAULTS } from "./hub/cloudhub.js";
import { CloseCode } from "./hub/tunnel-connection.js";
import { RedisAckStore } from "./hub/redis-ack-store.js";
import { becomesTrue, redisReachable, startHealthServer } from "./http/health-server.js";
import { KubeRest, PatchType, statusCodeOf } from "./kube/kube-rest.js";
import { LeaseCoalescer, repliesForBatch } from "./controllers/lease-coalescer.js";
import { createCloudcoreMetrics, type CloudcoreMetrics } from "./metrics.js";
import { collectDefaultMetrics } from "prom-client";
import { DEFAULT_CLOUD_NAMESPACE, loadOrCreateCa } from "./security/ca-store.js";
import { JoinTokens } from "./security/join-tokens.js";
import { CloudStream } from "./stream/cloud-stream.js";
import { KubeletAuthorizer } from "./stream/kubelet-authorizer.js";
import { StreamServer } from "./stream/stream-server.js";
import type { PodJson } from "./kube/objects.js";

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
  /** Listen address of /metrics, /healthz and /readyz (default: `host`). */
  readonly metricsHost?: string;
  /**
   * Export the process's own figures (RSS, CPU, event-loop lag, as edgefleet_cloudcore_*): for a
   * cloudcore that is the only one in its process (`cloudcore run`), not for tests running several.
   */
  readonly processMetrics?: boolean;
  /** Redis for acked versions (shared by replicas, survives restarts); memory if absent. */
  readonly redisUrl?: string;
  /** PEM CA bundle the Redis servers' certificates are checked against (TLS URLs only). */
  readonly redisTlsCaFile?: string;
  /** File holding the Redis password (instead of one in redisUrl). */
  readonly redisPasswordFile?: string;
  /** File holding the sentinels' own password (sentinel URLs only). */
  readonly redisSentinelPasswordFile?: string;
  readonly keepaliveTimeoutMs?: number;
  readonly ackTimeoutMs?: number;
  readonly offlineGraceMs?: number;
  readonly maxAutonomyMs?: number;
  readonly leaseRenewIntervalMs?: number;
  /** New tunnels admitted per second and burst (cloudhub's default if absent; null = unlimited). */
  readonly admission?: { readonly ratePerSecond: number; readonly burst: number } | null;
  /** Extra label selector for the edge Nodes served (several cloudcore clusters on one apiserver). */
  readonly edgeNodeSelector?: string;
  /** Protocols a Device may name (the Device CRD's CEL rule). */
  readonly deviceProtocols?: readonly string[];
  /**
   * Install and update the device CRDs (default true). False: someone else installs them (the Helm
   * chart) and cloudcore only waits for them to be Established.
   */
  readonly manageCrds?: boolean;
  /**
   * The Device validating webhook: its port, and the URL the apiserver calls (default
   * `https://<first advertised address>:<port>/validate/devices`). null: not served, not registered.
   */
  readonly deviceWebhook?: { readonly port: number; readonly url?: string } | null;
  /**
   * CloudStream, the kubelet API the apiserver dials for edge nodes (`kubectl logs/exec/attach/
   * port-forward`): its port (KubeEdge's 10003; 0 = any free port) and the CA(s) whose client
   * certificates may call it (default: the cluster CA of the kubeconfig, which signs the apiserver's
   * kubelet client certificate). null: not served.
   */
  readonly stream?: {
    readonly port: number;
    /** Listen address, if not `host` (the stream server faces the apiserver, not edges). */
    readonly host?: string;
    readonly clientCaPem?: string;
    /** How long an edge may take to begin answering a session (default 30 s). */
    readonly answerTimeoutMs?: number;
  } | null;
  /**
   * Run as one replica of a cluster: node ownership negotiated in Redis (`redisUrl` required).
   * Absent: a single cloudcore that owns every node.
   */
  readonly cluster?: {
    readonly replicaId: string;
    /** Address others reach this replica at (stream listener, DNAT target); default first advertised. */
    readonly address?: string;
    readonly ownershipTtlMs?: number;
    readonly livenessTtlMs?: number;
    readonly handoverTimeoutMs?: number;
    /** How often ownerless edge nodes are looked for and adopted (default 5 s). */
    readonly adoptIntervalMs?: number;
    /** How often the load spread is checked (default 5 s; 0 = never rebalance). */
    readonly rebalanceIntervalMs?: number;
    /** Tunnels closed per rebalancing round at most (default 50). */
    readonly rebalanceMaxPerRound?: number;
    /** First tunnel port to allocate from (default 10351, as KubeEdge). */
    readonly tunnelPortBase?: number;
    /** Port the DNAT sends the apiserver to (default: the stream server's port). */
    readonly streamPort?: number;
  };
  readonly logger?: Logger;
}

/** The parts of a running cloudcore. */
interface CloudcoreParts {
  readonly hub: CloudHub;
  readonly certificates: CertificateServer;
  readonly tokens: JoinTokens;
  readonly edge: EdgeController;
  readonly devices: DeviceController;
  readonly webhook: ValidationWebhook | undefined;
  readonly upstream: Upstream;
  readonly health: NodeHealth;
  readonly ownership: Ownership;
  readonly stream: { readonly server: StreamServer; readonly relay: CloudStream } | undefined;
  readonly cluster:
    | {
        readonly nodes: NodeOwnership;
        readonly registry: ReplicaRegistry;
        readonly subscriber: RedisClient;
        readonly adoptIntervalMs: number;
        readonly rebalancer: Rebalancer | undefined;
        readonly tunnelPorts: TunnelPortAllocator;
      }
    | undefined;
  readonly metrics: CloudcoreMetrics;
  readonly rest: KubeRest;
  readonly redis: RedisClient | undefined;
  readonly httpServer: Server | undefined;
  readonly log: Logger;
}

/**
 * One cloudcore process: certificate server, cloudhub (tunnels), EdgeController and DeviceController
 * (downstream and upstream), offline-autonomy health keeping, metrics, and — as a cluster replica —
 * node ownership negotiated in Redis. A node is served only while owned: its tunnel is admitted
 * after the ownership is acquired, downstream messages go only to owned nodes, and every write made
 * for a node first checks the fencing epoch.
 */
export class Cloudcore {
  readonly #upstreamChains = new Map<string, Promise<void>>();
  readonly #leaseRenewals = new LeaseCoalescer();
  #adoptTimer: NodeJS.Timeout | undefined;
  #portTimer: NodeJS.Timeout | undefined;
  readonly hub: CloudHub;
  readonly certificates: CertificateServer;
  readonly tokens: JoinTokens;
  readonly edge: EdgeController;
  readonly devices: DeviceController;
  readonly webhook: ValidationWebhook | undefined;
  readonly upstream: Upstream;
  readonly health: NodeHealth;
  readonly ownership: Ownership;
  readonly metrics: CloudcoreMetrics;
  /** CloudStream's server and relay, when served. */
  readonly stream: CloudcoreParts["stream"];
  readonly #parts: CloudcoreParts;
  readonly #log: Logger;

  private constructor(parts: CloudcoreParts) {
    this.#parts = parts;
    ({
      hub: this.hub,
      certificates: this.certificates,
      tokens: this.tokens,
      edge: this.edge,
      devices: this.devices,
      webhook: this.webhook,
      upstream: this.upstream,
      health: this.health,
      ownership: this.ownership,
      metrics: this.metrics,
      stream: this.stream,
    } = parts);
    this.#log = parts.log.child({ component: "cloudcore" });
  }

  static async start(options: CloudcoreOptions): Promise<Cloudcore> {
    const log = options.logger ?? pino({ level: "info" });
    if (options.cluster && !options.redisUrl) throw new ConfigError("cluster mode needs redisUrl");
    // One Redis, a Sentinel group or a Redis Cluster (redis-endpoint.ts); a bad URL fails here.
    const endpoint = options.redisUrl
      ? RedisEndpoint.parse(options.redisUrl, {
          tlsCaFile: options.redisTlsCaFile,
          passwordFile: options.redisPasswordFile,
          sentinelPasswordFile: options.redisSentinelPasswordFile,
        })
      : undefined;
    const metrics = createCloudcoreMetrics();
    if (options.processMetrics)
      collectDefaultMetrics({ register: metrics.registry, prefix: "edgefleet_cloudcore_" });
    const namespace = options.namespace ?? DEFAULT_CLOUD_NAMESPACE;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const ca = await loadOrCreateCa(core, namespace);
    const tokens = new JoinTokens(core, ca, { namespace });
    const rest = await KubeRest.create(options.kubeConfig, metrics.apiserverLatency);
    const redis = endpoint?.client({ maxRetriesPerRequest: 3 });
    // ioredis reconnects by itself; errors are logged, not thrown at the process.
    redis?.on("error", (err: Error) => log.warn({ err: err.message }, "redis connection error"));
    // A Cluster reports a failing shard's connection errors as "node error".
    redis?.on("node error", (err: Error, node: string) =>
      log.warn({ err: err.message, node }, "redis cluster node connection error"),
    );
    if (endpoint) log.info({ redis: endpoint.redacted(), mode: endpoint.mode }, "using Redis");
    const ackStore: AckStore = redis ? new RedisAckStore(redis) : new MemoryAckStore();
    const host = options.host ?? CLOUDHUB_DEFAULTS.host;
    const started: { close(): unknown }[] = [];
    let cluster: CloudcoreParts["cluster"];
    let streamServerPort: number | undefined;
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
        ...(options.admission !== undefined && { admission: options.admission }),
      });
      started.push(hub);
      metrics.setSyncLagSource(() => hub.delivery.syncLag());

      let ownership: Ownership = new LocalOwnership();
      if (options.cluster && redis && endpoint) {
        const c = options.cluster;
        const keys = new ClusterKeys();
        // Connected before it subscribes: a subscribe queued before the ready check turned the
        // connection into subscriber mode under that check ("only subscriber commands may be used")
        // and handover requests were never heard.
        const subscriber = endpoint.subscriber();
        subscriber.on("error", (err: Error) =>
          log.warn({ err: err.message }, "redis subscriber connection error"),
        );
        const startedAt = Date.now();
        const rate = new MessageRate(() => hub.sessions.messagesTotal);
        const tunnelPorts = new TunnelPortAllocator(redis, c.replicaId, {
          ...(c.tunnelPortBase !== undefined && { base: c.tunnelPortBase }),
        });
        await tunnelPorts.allocate();
        const registry = new ReplicaRegistry({
          redis,
          keys,
          log,
          self: () => ({
            id: c.replicaId,
            address: c.address ?? options.advertise.ipAddresses[0] ?? "127.0.0.1",
            connected: hub.sessions.size,
            messagesPerSecond: rate.perSecond(),
            startedAt,
            tunnelPort: tunnelPorts.port,
            // Where the DNAT sends the apiserver: the stream server's port unless told otherwise.
            streamPort: c.streamPort ?? streamServerPort ?? DEFAULT_STREAM_PORT,
          }),
          ...(c.livenessTtlMs !== undefined && { ttlMs: c.livenessTtlMs }),
        });
        const nodes = new NodeOwnership({
          redis,
          subscriber,
          keys,
          replicaId: c.replicaId,
          isReplicaAlive: (id) => registry.isAlive(id),
          log,
          ...(c.ownershipTtlMs !== undefined && { ttlMs: c.ownershipTtlMs }),
          // Wait for a handover at least as long as a dead owner takes to be noticed, so that an
          // edge whose replica was killed is taken over on its first reconnect instead of being
          // sent away with TryLater (and backing off) until the liveness key expires.
          handoverTimeoutMs: c.handoverTimeoutMs ?? (c.livenessTtlMs ?? 6000) + 2000,
          onChange: (change) => metrics.ownershipChanges.inc({ change }),
        });
        metrics.setOwnedNodesSource(() => nodes.ownedCount);
        await subscriber.connect();
        await registry.start();
        await nodes.start();
        const rebalancer =
          c.rebalanceIntervalMs === 0
            ? undefined
            : new Rebalancer({
                self: c.replicaId,
                listReplicas: () => registry.list(),
                publish: () => registry.publish(),
                // Oldest tunnels first; the node stays owned here until another replica asks for it.
                shed: (count) => {
                  const names = [...hub.sessions.nodeNames()].slice(0, count);
                  for (const name of names)
                    hub.sessions.get(name)?.close(CloseCode.Reconnect, "rebalancing: reconnect");
                  return names.length;
                },
                log,
                ...(c.rebalanceIntervalMs !== undefined && { intervalMs: c.rebalanceIntervalMs }),
                ...(c.rebalanceMaxPerRound !== undefined && { maxPerRound: c.rebalanceMaxPerRound }),
              });
        cluster = {
          nodes,
          registry,
          subscriber,
          adoptIntervalMs: c.adoptIntervalMs ?? 5000,
          rebalancer,
          tunnelPorts,
        };
        ownership = nodes;
      }
      // Downstream goes to a node only while it has a tunnel here and is owned here.
      const isServed = (node: string): boolean =>
        hub.sessions.get(node) !== undefined && ownership.owns(node);
      const sink: DownstreamSink = {
        deliver: (node, message, meta) => {
          if (requiresAck(message)) return hub.delivery.deliver(node, message, meta);
          hub.send(node, message);
          return Promise.resolve();
        },
        acked: (node) => hub.delivery.acked(node),
        isConnected: isServed,
        forgetNode: (node) => hub.delivery.forgetNode(node),
      };
      const edge = new EdgeController({
        kubeConfig: options.kubeConfig,
        rest,
        metrics,
        log,
        sink,
        ...(options.edgeNodeSelector !== undefined && { edgeNodeSelector: options.edgeNodeSelector }),
      });
      await ensureCrds(rest, deviceCrds(options.deviceProtocols ?? DEFAULT_DEVICE_PROTOCOLS), log, {
        manage: options.manageCrds ?? true,
      });
      const fence = async (node: string): Promise<void> => {
        await ownership.assertCurrent(node);
      };
      const devices = new DeviceController({
        kubeConfig: options.kubeConfig,
        rest,
        sink,
        isEdgeNode: (node) => edge.isEdgeNode(node),
        fence,
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
      let stream: CloudcoreParts["stream"];
      if (options.stream !== null) {
        const relay = new CloudStream({
          pod: async (namespace, name) =>
            edge.pods.get(namespace, name) ??
            (await rest.get<PodJson>(`/api/v1/namespaces/${namespace}/pods/${name}`).catch((err: unknown) => {
              if (statusCodeOf(err) === 404) return undefined;
              throw err;
            })),
          isEdgeNode: (node) => edge.isEdgeNode(node),
          session: (node) => {
            const session = hub.sessions.get(node);
            if (!session || !ownership.owns(node)) return undefined;
            if (!session.connection.carriesStreams) return "unsupported";
            return { openStream: (type, payload) => session.streams.open(type, payload) };
          },
          authorizer: new KubeletAuthorizer(rest),
          ...(options.stream?.answerTimeoutMs !== undefined && {
            answerTimeoutMs: options.stream.answerTimeoutMs,
          }),
          metrics,
          log,
        });
        const server = await StreamServer.start({
          ca,
          clientCaPem: options.stream?.clientCaPem ?? clusterCaPem(options.kubeConfig),
          host: options.stream?.host ?? host,
          port: options.stream?.port ?? DEFAULT_STREAM_PORT,
          servingAddresses: () => ({
            dnsNames: options.advertise.dnsNames,
            ipAddresses: [
              ...options.advertise.ipAddresses,
              ...(options.cluster?.address ? [options.cluster.address] : []),
              ...edgeNodeAddresses(edge),
            ],
          }),
          handle: (call) => relay.handle(call),
          log,
        });
        started.push({ close: () => server.close() });
        stream = { server, relay };
        streamServerPort = server.port;
      }
      const upstream = new Upstream({
        rest,
        edge,
        metrics,
        log,
        fence,
        kubeletPort: () => (cluster ? cluster.tunnelPorts.port : stream?.server.port),
        ...(cluster && {
          epochOf: (node: string) => cluster?.nodes.epochOf(node),
          ownerId: cluster.registry.id,
        }),
      });
      const health = new NodeHealth({
        rest,
        log,
        // Offline nodes are vouched for by their owner only.
        edgeNodes: () =>
          options.cluster
            ? [...ownership.owned().keys()].filter((n) => edge.isEdgeNode(n))
            : edge.nodes.list().map((n) => n.metadata?.name ?? ""),
        nodeObject: (node) => edge.nodes.get("", node),
        isConnected: (node) => hub.sessions.get(node) !== undefined,
        fence,
        ...(cluster && { epochOf: (node: string) => cluster?.nodes.epochOf(node) }),
        ...(options.offlineGraceMs !== undefined && { offlineGraceMs: options.offlineGraceMs }),
        ...(options.maxAutonomyMs !== undefined && { maxAutonomyMs: options.maxAutonomyMs }),
        ...(options.leaseRenewIntervalMs !== undefined && { renewIntervalMs: options.leaseRenewIntervalMs }),
      });
      const httpServer =
        options.metricsPort === null
          ? undefined
          : await startHealthServer({
              registry: metrics.registry,
              requests: metrics.httpRequests,
              host: options.metricsHost ?? host,
              port: options.metricsPort ?? 9091,
              readiness: [
                becomesTrue("informers", Promise.all([edge.start(), devices.start()]), "caches not synced"),
                ...(redis ? [redisReachable(redis)] : []),
              ],
            });
      const cloudcore = new Cloudcore({
        hub,
        certificates,
        tokens,
        edge,
        devices,
        webhook,
        upstream,
        health,
        ownership,
        stream,
        cluster,
        metrics,
        rest,
        redis,
        httpServer,
        log,
      });
      cloudcore.#wire();
      await Promise.all([edge.start(), devices.start()]);
      health.start();
      return cloudcore;
    } catch (err) {
      for (const s of started.reverse()) await s.close();
      await cluster?.nodes.stop().catch(() => undefined);
      await cluster?.registry.stop().catch(() => undefined);
      cluster?.subscriber.disconnect();
      rest.close();
      redis?.disconnect();
      throw err;
    }
  }

  get metricsPort(): number | undefined {
    const address = this.#parts.httpServer?.address();
    return typeof address === "object" && address ? address.port : undefined;
  }

  /** The cluster parts when running as a replica. */
  get cluster(): CloudcoreParts["cluster"] {
    return this.#parts.cluster;
  }

  #wire(): void {
    this.hub.setHandlers({
      onConnect: (session) => {
        const node = session.nodeName;
        // Serve only once owned; the node's upstream requests wait for this in their chain.
        this.#inOrder(node, async () => {
          try {
            await this.ownership.acquire(node);
          } catch (err) {
            if (!(err instanceof OwnershipUnavailableError)) throw err;
            this.#log.info(
              { node, reason: err.message },
              "node owned elsewhere: asking the edge to retry later",
            );
            session.close(CloseCode.TryLater, "node is owned by another replica; retry later");
            return;
          }
          if (this.hub.sessions.get(node) !== session) return;
          this.health.connected(node);
          // Another replica may have served the node since this one last did: what it acked then
          // is in the store, not in this process's cache.
          if (this.#parts.cluster) this.hub.delivery.evict(node);
          await this.edge.resync(node);
          await this.#pointKubeletPortHere(node);
        });
      },
      onDisconnect: (session) => {
        // A replaced session is followed by the new one: the node is still connected.
        if (!this.hub.sessions.get(session.nodeName)) this.health.disconnected(session.nodeName);
      },
      onMessage: (session, message) => this.#upstream(session.nodeName, message),
    });
    this.#parts.cluster?.nodes.setEvents({
      onHandoverRequest: (node, from) => {
        // The edge is connecting to `from`: our tunnel to it (if any) is stale.
        this.#inOrder(node, async () => {
          this.hub.sessions.get(node)?.close(CloseCode.Reconnect, `node handed over to replica ${from}`);
          await this.ownership.release(node);
          this.hub.delivery.evict(node);
        });
      },
      onLost: (node) => {
        this.hub.sessions.get(node)?.close(CloseCode.Reconnect, "node ownership lost; reconnect");
        this.hub.delivery.evict(node);
      },
    });
    const cluster = this.#parts.cluster;
    cluster?.rebalancer?.start();
    if (cluster) {
      this.#portTimer = setInterval(() => {
        cluster.tunnelPorts
          .renew()
          .catch((err: unknown) =>
            this.#log.warn({ err: (err as Error).message }, "renewing the tunnel port failed"),
          );
      }, 10_000);
      let running = false;
      this.#adoptTimer = setInterval(() => {
        if (running) return;
        running = true;
        const edgeNodes = this.edge.nodes.list().map((n) => n.metadata?.name ?? "");
        cluster.nodes
          .adoptOrphans(edgeNodes)
          .catch((err: unknown) =>
            this.#log.warn({ err: (err as Error).message }, "adopting ownerless nodes failed"),
          )
          .finally(() => (running = false));
      }, cluster.adoptIntervalMs);
    }
  }

  /**
   * A new owner makes the Node's kubelet endpoint port its own tunnel port, so the apiserver's
   * logs/exec connections to the node are DNATed here from now on.
   */
  async #pointKubeletPortHere(node: string): Promise<void> {
    const cluster = this.#parts.cluster;
    const port = cluster ? cluster.tunnelPorts.port : this.#parts.stream?.server.port;
    const current = this.edge.nodes.get("", node);
    if (port === undefined || !current) return;
    // Record the new owner and its epoch on the Node: from here on, Node writes based on an older
    // owner's view are refused by the apiserver itself (cluster/node-fence.ts).
    const epoch = await this.ownership.assertCurrent(node);
    if (cluster && current.metadata?.annotations?.[OWNER_EPOCH_ANNOTATION] !== String(epoch)) {
      await this.#parts.rest.request("patch", `/api/v1/nodes/${node}`, {
        contentType: PatchType.Merge,
        body: {
          metadata: {
            annotations: {
              [OWNER_ANNOTATION]: this.#parts.cluster?.registry.id ?? "",
              [OWNER_EPOCH_ANNOTATION]: String(epoch),
            },
          },
        },
      });
    }
    const endpoints = current.status?.["daemonEndpoints"] as
      { kubeletEndpoint?: { Port?: number } } | undefined;
    if (endpoints?.kubeletEndpoint?.Port === port) return;
    await this.ownership.assertCurrent(node);
    await this.#parts.rest.request("patch", `/api/v1/nodes/${node}/status`, {
      contentType: PatchType.StrategicMerge,
      body: { status: { daemonEndpoints: { kubeletEndpoint: { Port: port } } } },
    });
  }

  /**
   * Requests of one node are handled in arrival order (a later status never lands first); Lease
   * renewals still waiting when a newer one arrives are written once (controllers/lease-coalescer.ts).
   */
  #upstream(node: string, message: Message): void {
    if (LeaseCoalescer.isRenewal(message)) {
      if (this.#leaseRenewals.offer(node, message)) {
        this.metrics.upstreamCoalesced.inc({ type: ResourceType.Lease });
        return;
      }
      this.#inOrder(node, async () => {
        const batch = this.#leaseRenewals.take(node);
        const reply = await this.#handleUpstream(node, batch[batch.length - 1] ?? message);
        if (reply) for (const each of repliesForBatch(batch, reply)) this.hub.send(node, each);
      });
      return;
    }
    this.#inOrder(node, async () => {
      const reply = await this.#handleUpstream(node, message);
      if (reply) this.hub.send(node, reply);
    });
  }

  async #handleUpstream(node: string, message: Message): Promise<Message | undefined> {
    if (!this.ownership.owns(node)) {
      // Not (or no longer) ours: the edge resends unanswered requests once it is served.
      this.#log.debug(
        { node, resource: message.route.resource },
        "request from a node not owned here dropped",
      );
      return undefined;
    }
    return (await this.devices.handleUpstream(node, message)) ?? (await this.upstream.handle(node, message));
  }

  /** Runs `task` after everything queued before it for `node`. */
  #inOrder(node: string, task: () => Promise<void>): void {
    const previous = this.#upstreamChains.get(node) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch((err: unknown) => this.#log.error({ node, err }, "node task failed"))
      .finally(() => {
        if (this.#upstreamChains.get(node) === next) this.#upstreamChains.delete(node);
      });
    this.#upstreamChains.set(node, next);
  }

  /** Graceful stop: releases owned nodes (others take them at once), closes tunnels and listeners. */
  close(): Promise<void> {
    return this.#shutdown(true);
  }

  /** As if the process died (tests): nothing released, Redis keys left to expire. */
  crash(): Promise<void> {
    return this.#shutdown(false);
  }

  async #shutdown(graceful: boolean): Promise<void> {
    const { cluster, redis, httpServer, rest } = this.#parts;
    clearInterval(this.#adoptTimer);
    clearInterval(this.#portTimer);
    cluster?.rebalancer?.stop();
    if (!graceful) {
      cluster?.nodes.abandon();
      cluster?.registry.abandon();
      cluster?.subscriber.disconnect();
      redis?.disconnect();
    }
    await this.health.stop();
    if (graceful && cluster) {
      await cluster.nodes.stop();
      await cluster.registry.stop();
      await cluster.tunnelPorts.release().catch(() => undefined);
      cluster.subscriber.disconnect();
    }
    this.stream?.relay.close();
    await this.stream?.server.close();
    await this.hub.close();
    await this.edge.stop();
    await this.devices.stop();
    await this.webhook?.close();
    await this.certificates.close();
    if (graceful) await Promise.allSettled([...this.#upstreamChains.values()]);
    await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
    rest.close();
    if (graceful && redis) await redis.quit().catch(() => redis.disconnect());
  }
}

/** KubeEdge's CloudStream port: the DNAT target of the tunnel ports. */
export const DEFAULT_STREAM_PORT = 10003;

/** The cluster CA from the kubeconfig (in a pod: the service account's ca.crt). */
function clusterCaPem(kc: KubeConfig): string {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, "base64").toString("utf8");
  if (cluster?.caFile) return readFileSync(cluster.caFile, "utf8");
  throw new ConfigError(
    "the stream server needs the CA of the apiserver's kubelet client certificate: the kubeconfig names no cluster CA, so set streamClientCaFile",
  );
}

/** Every address edge Nodes report: the apiserver dials one of them and checks it in our certificate. */
function edgeNodeAddresses(edge: EdgeController): string[] {
  const out: string[] = [];
  for (const node of edge.nodes.list())
    for (const address of (node.status?.["addresses"] as { type?: string; address?: string }[] | undefined) ??
      [])
      if (
        (address.type === "InternalIP" || address.type === "ExternalIP") &&
        address.address &&
        isIP(address.address)
      )
        out.push(address.address);
  return out;
}

/** Tunnel messages per second (in + out) since the previous reading: the load a replica publishes. */
class MessageRate {
  #last = { at: Date.now(), total: 0 };

  constructor(private readonly total: () => number) {}

  perSecond(): number {
    const total = this.total();
    const now = Date.now();
    const seconds = (now - this.#last.at) / 1000;
    const rate = seconds > 0 ? (total - this.#last.total) / seconds : 0;
    this.#last = { at: now, total };
    return Math.max(0, Math.round(rate * 10) / 10);
  }
}
