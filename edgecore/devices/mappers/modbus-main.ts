#!/usr/bin/env node
/**
 * `edgefleet-modbus-mapper`: runs the Modbus TCP mapper for one node until SIGINT or SIGTERM.
 * Example: tsx edgecore/devices/mappers/modbus-main.ts --broker mqtt://127.0.0.1:1883 --node edge-1
 */
import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import { ModbusMapper, MODBUS_MAPPER_DEFAULTS } from "./modbus-mapper.js";

interface Flags {
  readonly broker: string;
  readonly node: string;
  readonly protocol: string;
  readonly requestTimeout: number;
  readonly logLevel: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

const program = new Command("edgefleet-modbus-mapper")
  .description("serves the node's Modbus TCP devices: polls their registers, writes desired values")
  .requiredOption("--broker <url>", "the node's MQTT broker (DeviceTwin's brokerUrl)")
  .requiredOption("--node <name>", "the edge node whose devices to serve")
  .option("--protocol <name>", "serve devices of this protocolName", MODBUS_MAPPER_DEFAULTS.protocolName)
  .option(
    "--request-timeout <ms>",
    "timeout of one Modbus request",
    positiveInt,
    MODBUS_MAPPER_DEFAULTS.requestTimeoutMs,
  )
  .option("--log-level <level>", "pino log level", "info")
  .action(async (flags: Flags) => {
    const log = pino({ level: flags.logLevel });
    const mapper = new ModbusMapper({
      brokerUrl: flags.broker,
      nodeName: flags.node,
      protocolName: flags.protocol,
      requestTimeoutMs: flags.requestTimeout,
      log,
    });
    await mapper.start();
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await mapper.stop();
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgefleet-modbus-mapper: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
