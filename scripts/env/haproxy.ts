import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { httpOk } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

export interface HaproxyBackend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface HaproxyService {
  /** Name of the frontend/backend pair; letters, digits, '-' and '_'. */
  readonly name: string;
  readonly backends: readonly HaproxyBackend[];
  /** leastconn suits long-lived tunnels: new edges go to the replica with the fewest. */
  readonly balance?: "roundrobin" | "leastconn";
}

export interface HaproxyBalancer extends Component {
  /** Frontend port of each service, by service name. */
  readonly ports: Readonly<Record<string, number>>;
  /** HTTP monitor endpoint: 200 while HAProxy runs. */
  readonly healthUrl: string;
}

const NAME = /^[A-Za-z0-9_-]+$/;

/** Renders the HAProxy configuration (TCP mode, health checks every 500 ms, redispatch on connect failure). */
export function renderHaproxyConfig(
  services: readonly HaproxyService[],
  ports: Readonly<Record<string, number>>,
  healthPort: number,
): string {
  const lines = [
    "global",
    "  maxconn 9000",
    "  log stdout format raw local0 notice",
    "defaults",
    "  mode tcp",
    "  log global",
    "  timeout connect 3s",
    // Tunnels are long-lived and carry their own keepalives.
    "  timeout client 1h",
    "  timeout server 1h",
    "  retries 2",
    "  option redispatch",
    "frontend health",
    "  mode http",
    `  bind 127.0.0.1:${healthPort}`,
    "  monitor-uri /healthz",
    "  timeout client 5s",
  ];
  for (const service of services) {
    if (!NAME.test(service.name))
      throw new Error(`haproxy service name ${JSON.stringify(service.name)} is not [A-Za-z0-9_-]+`);
    lines.push(
      `frontend ${service.name}`,
      `  bind 127.0.0.1:${ports[service.name]}`,
      `  default_backend ${service.name}_servers`,
      `backend ${service.name}_servers`,
      `  balance ${service.balance ?? "roundrobin"}`,
      "  default-server inter 500ms fall 1 rise 1",
    );
    for (const backend of service.backends) {
      if (!NAME.test(backend.name))
        throw new Error(`haproxy backend name ${JSON.stringify(backend.name)} is not [A-Za-z0-9_-]+`);
      lines.push(`  server ${backend.name} ${backend.host}:${backend.port} check`);
    }
  }
  return lines.join("\n") + "\n";
}

/** Starts Debian's HAProxy in the foreground with a configuration written for `services`. */
export async function startHaproxy(
  dir: string,
  services: readonly HaproxyService[],
): Promise<HaproxyBalancer> {
  mkdirSync(dir, { recursive: true });
  const ports: Record<string, number> = {};
  for (const service of services) ports[service.name] = await freePort();
  const healthPort = await freePort();
  const config = join(dir, "haproxy.cfg");
  writeFileSync(config, renderHaproxyConfig(services, ports, healthPort));
  const healthUrl = `http://127.0.0.1:${healthPort}/healthz`;
  const proc = new ManagedProcess({
    name: "haproxy",
    command: systemBinary("haproxy", "haproxy"),
    args: ["-db", "-f", config],
    logFile: join(dir, "haproxy.log"),
    ready: () => httpOk(healthUrl),
    readyTimeoutMs: 15_000,
  });
  await proc.start();
  return {
    name: "haproxy",
    logFile: proc.spec.logFile,
    ports,
    healthUrl,
    stop: () => proc.stop(),
    get running() {
      return proc.running;
    },
  };
}
