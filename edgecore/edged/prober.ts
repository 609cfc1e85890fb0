import { connect } from "node:net";
import type { Logger } from "pino";
import type { CriClient } from "./cri/cri-client.js";
import type { Container, Pod } from "./pod-spec.js";
import type { ObservedContainer } from "./pod-status.js";

type ProbeSpec = NonNullable<Container["readinessProbe"]>;

interface ProbeWorker {
  readonly containerId: string;
  readonly timer: NodeJS.Timeout;
  successes: number;
  failures: number;
  /** Readiness: the current result. Liveness: true once failureThreshold consecutive failures. */
  result: boolean;
}

/** Runs one probe; resolves true on success. */
export async function runProbe(
  probe: ProbeSpec,
  context: {
    readonly cri: CriClient;
    readonly containerId: string;
    readonly podIP: string;
    readonly container: Container;
  },
): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const port = (value: number | string): number =>
    typeof value === "number"
      ? value
      : (context.container.ports?.find((p) => p.name === value)?.containerPort ?? Number(value));
  if (probe.exec) {
    const result = await context.cri.execSync({
      containerId: context.containerId,
      cmd: probe.exec.command,
      timeout: Math.ceil(timeoutMs / 1000),
    });
    return result.exitCode === 0;
  }
  if (probe.httpGet) {
    const scheme = (probe.httpGet.scheme ?? "HTTP").toLowerCase();
    const host = probe.httpGet.host ?? context.podIP;
    const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port(probe.httpGet.port)}${probe.httpGet.path ?? "/"}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 400;
  }
  if (probe.tcpSocket) {
    const target = { host: probe.tcpSocket.host ?? context.podIP, port: port(probe.tcpSocket.port) };
    return new Promise((resolve) => {
      const socket = connect(target);
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
  }
  return true;
}

/**
 * The kubelet's prober: readiness and liveness probes (exec through CRI, httpGet, tcpSocket) per
 * running container, every periodSeconds after initialDelaySeconds, with success and failure
 * thresholds. Readiness feeds the Ready condition; a failed liveness probe makes edged restart the
 * container.
 */
export class Prober {
  readonly #workers = new Map<string, ProbeWorker>();

  constructor(
    private readonly cri: CriClient,
    private readonly log: Logger,
  ) {}

  /** Starts probes for newly running containers and stops those of containers that are gone. */
  track(pod: Pod, latest: ReadonlyMap<string, ObservedContainer>, podIP: string): void {
    const uid = pod.metadata.uid;
    const live = new Set<string>();
    for (const container of pod.spec.containers) {
      const instance = latest.get(container.name);
      if (instance?.state !== "running") continue;
      for (const kind of ["readiness", "liveness"] as const) {
        const probe = kind === "readiness" ? container.readinessProbe : container.livenessProbe;
        if (!probe) continue;
        const key = `${uid}/${container.name}/${kind}`;
        live.add(key);
        const existing = this.#workers.get(key);
        if (existing?.containerId === instance.id) continue;
        if (existing) clearInterval(existing.timer);
        this.#workers.set(key, this.#startWorker(probe, kind, instance, container, podIP));
      }
    }
    for (const [key, worker] of this.#workers) {
      if (key.startsWith(`${uid}/`) && !live.has(key)) {
        clearInterval(worker.timer);
        this.#workers.delete(key);
      }
    }
  }

  /** Readiness results of a pod's containers that have a readiness probe. */
  readiness(uid: string): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const [key, worker] of this.#workers) {
      const [podUid, name, kind] = key.split("/");
      if (podUid === uid && kind === "readiness" && name !== undefined) out.set(name, worker.result);
    }
    return out;
  }

  failedLiveness(uid: string, container: string): boolean {
    return this.#workers.get(`${uid}/${container}/liveness`)?.result === true;
  }

  resetLiveness(uid: string, container: string): void {
    const worker = this.#workers.get(`${uid}/${container}/liveness`);
    if (worker) {
      clearInterval(worker.timer);
      this.#workers.delete(`${uid}/${container}/liveness`);
    }
  }

  forget(uid: string): void {
    for (const [key, worker] of this.#workers) {
      if (key.startsWith(`${uid}/`)) {
        clearInterval(worker.timer);
        this.#workers.delete(key);
      }
    }
  }

  stop(): void {
    for (const worker of this.#workers.values()) clearInterval(worker.timer);
    this.#workers.clear();
  }

  #startWorker(
    probe: ProbeSpec,
    kind: "readiness" | "liveness",
    instance: ObservedContainer,
    container: Container,
    podIP: string,
  ): ProbeWorker {
    const periodMs = (probe.periodSeconds ?? 10) * 1000;
    const firstAt = instance.startedAt + (probe.initialDelaySeconds ?? 0) * 1000;
    const failureThreshold = probe.failureThreshold ?? 3;
    const successThreshold = probe.successThreshold ?? 1;
    let busy = false;
    let lastRun = 0;
    const run = (): void => {
      const now = Date.now();
      if (busy || now < firstAt || now - lastRun < periodMs) return;
      busy = true;
      lastRun = now;
      runProbe(probe, { cri: this.cri, containerId: instance.id, podIP, container })
        .catch(() => false)
        .then((ok) => {
          if (ok) {
            worker.failures = 0;
            worker.successes++;
            if (kind === "readiness" && worker.successes >= successThreshold) worker.result = true;
            return;
          }
          worker.successes = 0;
          worker.failures++;
          if (worker.failures < failureThreshold) return;
          if (kind === "readiness") worker.result = false;
          else if (!worker.result) {
            worker.result = true;
            this.log.info({ container: container.name, failures: worker.failures }, "liveness probe failed");
          }
        })
        .finally(() => (busy = false));
    };
    // Ticks every 250 ms (or the period, if shorter) so the first probe runs right after the
    // initial delay; the probes themselves are spaced by the period.
    const worker: ProbeWorker = {
      containerId: instance.id,
      successes: 0,
      failures: 0,
      result: false,
      timer: setInterval(run, Math.min(periodMs, 250)),
    };
    return worker;
  }
}
