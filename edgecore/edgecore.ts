import { join } from "node:path";
import type { Logger } from "pino";
import { Group } from "../protocol/constants.js";
import type { Message } from "../protocol/message.js";
import type { EdgecoreConfig } from "./config.js";
import type { DeviceTwin } from "./devices/device-twin.js";
import { CloudTokens } from "./edged/cloud-tokens.js";
import { CriClient } from "./edged/cri/cri-client.js";
import { Edged } from "./edged/edged.js";
import { PodStatusReporter } from "./edged/status-reporter.js";
import { storedObjects } from "./edged/stored-objects.js";
import { EdgeHub, type EdgeCredentials } from "./hub/edgehub.js";
import { openEdgeDatabase, type SqliteDatabase } from "./meta/database.js";
import { MetaManager } from "./meta/meta-manager.js";
import { MetaServer } from "./meta/meta-server.js";
import { MetaStore } from "./meta/meta-store.js";
import { createEdgecoreMetrics, type EdgecoreMetrics } from "./metrics.js";
import { NodeAgent } from "./node/node-agent.js";
import { EdgeStream } from "./stream/edge-stream.js";
import { replyFailure } from "./upstream/replies.js";
import { confirmPodDeletion } from "./upstream/requests.js";

export interface EdgecoreOptions {
  readonly config: EdgecoreConfig;
  readonly credentials: EdgeCredentials;
  readonly log: Logger;
  /** Process metrics (RSS, CPU) on /metrics: only for a real edgecore process. */
  readonly processMetrics?: boolean;
}

/**
 * One edge node: edgehub (the tunnel), MetaManager + MetaServer (SQLite, served on loopback), the
 * node agent (registration, Lease, status), edged (pods on containerd through CRI) and, with a
 * broker configured, DeviceTwin (device twins over MQTT). The node's desired state comes from its
 * own database, so pods keep running and restart without the cloud.
 */
export class Edgecore {
  readonly db: SqliteDatabase;
  readonly metrics: EdgecoreMetrics;
  readonly hub: EdgeHub;
  readonly meta: MetaManager;
  readonly metaServer: MetaServer;
  readonly node: NodeAgent;
  readonly cri: CriClient;
  readonly reporter: PodStatusReporter;
  readonly edged: Edged;
  readonly stream: EdgeStream;
  /** Device twins; undefined without a broker (and until start()). */
  devices: DeviceTwin | undefined;
  readonly #log: Logger;
  #started = false;

  constructor(private readonly options: EdgecoreOptions) {
    const { config, log } = options;
    this.#log = log.child({ node: config.nodeName });
    this.metrics = createEdgecoreMetrics(undefined, { processMetrics: options.processMetrics ?? false });
    this.db = openEdgeDatabase(join(config.dataDir, "edgecore.db"));
    this.hub = new EdgeHub({
      server: config.tunnelServer,
      nodeName: config.nodeName,
      credentials: options.credentials,
      cloud: config.cloud,
      keepaliveIntervalMs: config.heartbeatInterval,
      logger: this.#log,
    });
    this.meta = new MetaManager(new MetaStore(this.db), this.hub, this.metrics, this.#log);
    this.metaServer = new MetaServer({
      meta: this.meta,
      host: config.metaServerHost,
      port: config.metaServerPort,
      registry: this.metrics.registry,
      log: this.#log,
      ready: () => this.#started,
    });
    this.node = new NodeAgent({
      hub: this.hub,
      nodeName: config.nodeName,
      internalIP: config.nodeIP,
      labels: config.labels,
      leaseDurationMs: config.leaseDuration,
      leaseRenewIntervalMs: config.leaseRenewInterval,
      statusIntervalMs: config.nodeStatusInterval,
      log: this.#log,
    });
    this.cri = new CriClient(config.containerdSocket, { timeoutMs: 120_000, logger: this.#log });
    this.reporter = new PodStatusReporter(this.hub, this.metrics, this.#log);
    this.stream = new EdgeStream({
      hub: this.hub,
      cri: this.cri,
      nodeName: config.nodeName,
      metrics: this.metrics,
      log: this.#log,
    });
    const tokens = new CloudTokens(this.hub, this.#log);
    this.edged = new Edged({
      nodeName: config.nodeName,
      hostIP: config.nodeIP,
      meta: this.meta,
      cri: this.cri,
      objects: storedObjects(this.meta.store),
      tokens,
      reporter: this.reporter,
      confirmDeletion: async (namespace, name, uid) => {
        const failure = replyFailure(await this.hub.request(confirmPodDeletion(namespace, name, uid)));
        if (failure && failure.code !== 404) throw new Error(failure.message);
        tokens.forget(uid);
        // The pod with this UID is gone from the apiserver (deleted now, or already: 404). The
        // node drops its copy itself rather than wait for the cloud's delete, which a cloudcore
        // restarted without Redis would not know to send.
        this.meta.removeLocal(`${namespace}/pod/${name}`, uid);
      },
      podsDir: join(config.dataDir, "pods"),
      logRoot: config.podLogDir,
      forceHostNetwork: config.hostNetworkOnly,
      syncIntervalMs: config.podSyncInterval,
      metrics: this.metrics,
      log: this.#log,
    });
    this.hub.onMessage((message) => this.#route(message));
    this.hub.onStatus((status) => {
      this.metrics.cloudConnected.set(status.type === "connected" ? 1 : 0);
      if (status.type === "connected") this.devices?.onCloudConnected();
    });
    this.meta.subscribe((event) => {
      const { type } = event.object;
      if (!this.devices || (type !== "device" && type !== "devicemodel")) return;
      void this.devices
        .applyCloudObject({
          operation: event.type === "DELETED" ? "delete" : event.type === "ADDED" ? "insert" : "update",
          namespace: event.object.namespace,
          type,
          name: event.object.name,
          object: event.object.object,
        })
        .catch((err: unknown) =>
          this.#log.warn({ err: (err as Error).message }, "device change not applied"),
        );
    });
  }

  /**
   * Starts every module. The pods the database holds are synced at once, before the cloud answers:
   * a restarted node keeps its pods without it.
   */
  async start(): Promise<void> {
    const { config } = this.options;
    if (config.mqttBroker !== undefined) {
      // Loaded only when used: the MQTT client is a tenth of an idle edgecore's memory.
      const { DeviceTwin } = await import("./devices/device-twin.js");
      this.devices = new DeviceTwin({
        db: this.db,
        nodeName: config.nodeName,
        brokerUrl: config.mqttBroker,
        upstream: (message) => this.hub.request(message),
        log: this.#log,
      });
    }
    await this.metaServer.start();
    this.edged.start();
    this.node.start();
    this.hub.start();
    await this.devices?.start();
    this.#started = true;
    this.#log.info(
      { metaServer: this.metaServer.url, pods: this.meta.store.list("pod").length },
      "edgecore started",
    );
  }

  /** Stops the modules; containers keep running (a restarted edgecore takes them over). */
  async stop(): Promise<void> {
    this.#started = false;
    this.node.stop();
    this.stream.close();
    await this.edged.stop();
    this.reporter.stop();
    await this.devices?.stop();
    await this.hub.close();
    await this.metaServer.stop();
    await this.cri.close();
    this.db.close();
  }

  #route(message: Message): void {
    if (MetaManager.handles(message)) {
      this.meta.handle(message);
      return;
    }
    if (message.route.group === Group.Twin) {
      void this.devices
        ?.handleCloudMessage(message)
        .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "twin message not handled"));
      return;
    }
    this.#log.debug({ route: message.route }, "cloud message not handled by any module");
  }
}
