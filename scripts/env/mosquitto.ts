import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

export interface MosquittoBroker extends Component {
  readonly port: number;
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
}

async function canConnect(url: string): Promise<boolean> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000 });
  await client.endAsync();
  return true;
}

/** Starts Debian's Mosquitto 2 on loopback with anonymous access and no persistence. */
export async function startMosquitto(dir: string): Promise<MosquittoBroker> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, "mosquitto.conf");
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      "log_dest stdout",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "",
    ].join("\n"),
  );
  const url = `mqtt://127.0.0.1:${port}`;
  const proc = new ManagedProcess({
    name: "mosquitto",
    command: systemBinary("mosquitto", "mosquitto"),
    args: ["-c", config],
    logFile: join(dir, "mosquitto.log"),
    ready: () => canConnect(url),
    readyTimeoutMs: 15_000,
  });
  await proc.start();
  return {
    name: "mosquitto",
    logFile: proc.spec.logFile,
    port,
    url,
    stop: () => proc.stop(),
    get running() {
      return proc.running;
    },
  };
}
