/**
 * Modbus visitor config and register ⇄ twin value conversion, pure. The visitor fields are the ones
 * KubeEdge's v1beta1 Modbus examples put in properties[].visitors.configData (register, offset,
 * limit, scale, isSwap, isRegisterSwap, dataType); the protocol's configData carries ip, port and
 * slaveID. See docs/device-twin.md for where the conversion differs from kubeedge/mappers-go.
 */
import { z } from "zod";
import { ModbusConfigError, ModbusValueError } from "../errors.js";

export const RegisterType = {
  Coil: "CoilRegister",
  DiscreteInput: "DiscreteInputRegister",
  Holding: "HoldingRegister",
  Input: "InputRegister",
} as const;
export type RegisterType = (typeof RegisterType)[keyof typeof RegisterType];

/** Register types a value can be written to. */
export const WRITABLE_REGISTERS: ReadonlySet<RegisterType> = new Set([
  RegisterType.Coil,
  RegisterType.Holding,
]);

export type ValueType = "int" | "float" | "double" | "boolean" | "string";

export interface RegisterVisitor {
  readonly register: RegisterType;
  /** First register (or coil) address, 0-based. */
  readonly offset: number;
  /** Registers (or coils) read and written together. */
  readonly limit: number;
  /** Twin value = raw value × scale; written raw = value / scale. */
  readonly scale: number;
  /** Swap the two bytes of every register. */
  readonly isSwap: boolean;
  /** Reverse the order of the registers (low word first). */
  readonly isRegisterSwap: boolean;
  readonly dataType: ValueType;
}

export interface ModbusTcpConfig {
  readonly host: string;
  readonly port: number;
  readonly slaveId: number;
}

const Flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);

const VisitorConfig = z
  .object({
    register: z.enum([
      RegisterType.Coil,
      RegisterType.DiscreteInput,
      RegisterType.Holding,
      RegisterType.Input,
    ]),
    offset: z.coerce.number().int().min(0).max(65_535),
    limit: z.coerce.number().int().min(1).max(125).default(1),
    scale: z.coerce
      .number()
      .finite()
      .refine((n) => n !== 0, "must not be 0")
      .default(1),
    isSwap: Flag.default(false),
    isRegisterSwap: Flag.default(false),
    dataType: z.string().optional(),
  })
  .passthrough();

const TcpConfig = z
  .object({
    ip: z.string().min(1),
    port: z.coerce.number().int().min(1).max(65_535).default(502),
    slaveID: z.coerce.number().int().min(0).max(255).default(1),
    communicateMode: z.string().optional(),
  })
  .passthrough();

function zodProblem(prefix: string, error: z.ZodError): ModbusConfigError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].join(".");
  return new ModbusConfigError(`${path}: ${issue?.message ?? "invalid"}`);
}

const VALUE_TYPES: Readonly<Record<string, ValueType>> = {
  int: "int",
  integer: "int",
  float: "float",
  double: "double",
  boolean: "boolean",
  string: "string",
};

/**
 * A property's Modbus visitor; `modelType` (the DeviceModel's INT, FLOAT…) is the data type unless
 * configData names one. Throws ModbusConfigError naming the field.
 */
export function parseVisitor(configData: Record<string, unknown>, modelType: string): RegisterVisitor {
  const parsed = VisitorConfig.safeParse(configData);
  if (!parsed.success) throw zodProblem("visitors.configData", parsed.error);
  const v = parsed.data;
  const named = (v.dataType ?? modelType).toLowerCase();
  const dataType = VALUE_TYPES[named];
  if (!dataType)
    throw new ModbusConfigError(
      `visitors.configData.dataType: ${JSON.stringify(named)} is not one of int, float, double, boolean, string`,
    );
  const isBits = v.register === RegisterType.Coil || v.register === RegisterType.DiscreteInput;
  if (isBits && v.limit !== 1)
    throw new ModbusConfigError(
      `visitors.configData.limit: a ${v.register} property reads 1 coil, not ${v.limit}`,
    );
  if (!isBits && dataType !== "string" && v.limit !== 1 && v.limit !== 2 && v.limit !== 4)
    throw new ModbusConfigError(
      `visitors.configData.limit: ${v.limit} registers hold no ${dataType}; use 1, 2 or 4`,
    );
  return {
    register: v.register,
    offset: v.offset,
    limit: v.limit,
    scale: v.scale,
    isSwap: v.isSwap,
    isRegisterSwap: v.isRegisterSwap,
    dataType,
  };
}

/** The device's Modbus TCP endpoint from its protocol configData. Throws ModbusConfigError. */
export function parseTcpConfig(configData: Record<string, unknown>): ModbusTcpConfig {
  const parsed = TcpConfig.safeParse(configData);
  if (!parsed.success) throw zodProblem("protocol.configData", parsed.error);
  const mode = parsed.data.communicateMode;
  if (mode !== undefined && mode.toUpperCase() !== "TCP")
    throw new ModbusConfigError(
      `protocol.configData.communicateMode: ${JSON.stringify(mode)}; only TCP is supported`,
    );
  return { host: parsed.data.ip, port: parsed.data.port, slaveId: parsed.data.slaveID };
}

/** Applies isRegisterSwap and isSwap to a copy (both are their own inverse, and commute). */
export function swapRegisters(
  raw: Buffer,
  visitor: Pick<RegisterVisitor, "isSwap" | "isRegisterSwap">,
): Buffer {
  const out = Buffer.from(raw);
  const words = out.length / 2;
  if (visitor.isRegisterSwap) {
    for (let i = 0; i < Math.floor(words / 2); i++) {
      const j = words - 1 - i;
      const a = out.readUInt16BE(i * 2);
      out.writeUInt16BE(out.readUInt16BE(j * 2), i * 2);
      out.writeUInt16BE(a, j * 2);
    }
  }
  if (visitor.isSwap) out.swap16();
  return out;
}

/** Register words (big-endian uint16 values) as bytes. */
export function wordsToBuffer(words: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(words.length * 2);
  for (let i = 0; i < words.length; i++) out.writeUInt16BE((words[i] ?? 0) & 0xffff, i * 2);
  return out;
}

/** `n` with `digits` significant digits, without float noise (215 × 0.1 → "21.5"). */
export function formatNumber(n: number, digits = 15): string {
  return String(Number(n.toPrecision(digits)));
}

function readInteger(bytes: Buffer): number {
  switch (bytes.length) {
    case 2:
      return bytes.readInt16BE(0);
    case 4:
      return bytes.readInt32BE(0);
    case 8:
      return Number(bytes.readBigInt64BE(0));
    default:
      throw new ModbusValueError(`${bytes.length / 2} registers hold no integer`);
  }
}

function writeInteger(raw: number, registers: number): Buffer {
  const out = Buffer.alloc(registers * 2);
  const ranges: Record<number, [number, number]> = { 1: [-0x8000, 0xffff], 2: [-0x8000_0000, 0xffff_ffff] };
  if (registers === 4) {
    out.writeBigInt64BE(BigInt(raw));
    return out;
  }
  const range = ranges[registers];
  if (!range) throw new ModbusValueError(`${registers} registers hold no integer`);
  if (raw < range[0] || raw > range[1])
    throw new ModbusValueError(`raw value ${raw} does not fit in ${registers} register(s)`);
  if (registers === 1) {
    if (raw < 0) out.writeInt16BE(raw);
    else out.writeUInt16BE(raw);
  } else if (raw < 0) out.writeInt32BE(raw);
  else out.writeUInt32BE(raw);
  return out;
}

function parseNumber(value: string): number {
  const n = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) throw new ModbusValueError(`${JSON.stringify(value)} is not a number`);
  return n;
}

function parseFlag(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === "true" || v === "1" || v === "on") return true;
  if (v === "false" || v === "0" || v === "off") return false;
  throw new ModbusValueError(`${JSON.stringify(value)} is not true or false`);
}

/**
 * The twin value of `limit` registers read from the device (bytes in wire order). Integers are
 * signed (two's complement); float/double over 2 or 4 registers are IEEE 754, over 1 register an
 * integer times scale.
 */
export function decodeRegisters(raw: Buffer, visitor: RegisterVisitor): string {
  if (raw.length !== visitor.limit * 2)
    throw new ModbusValueError(`read ${raw.length} bytes for ${visitor.limit} register(s)`);
  const bytes = swapRegisters(raw, visitor);
  switch (visitor.dataType) {
    case "int":
      return String(Math.round(readInteger(bytes) * visitor.scale));
    case "float":
    case "double":
      if (visitor.limit === 2) return formatNumber(bytes.readFloatBE(0) * visitor.scale, 7);
      if (visitor.limit === 4) return formatNumber(bytes.readDoubleBE(0) * visitor.scale);
      return formatNumber(readInteger(bytes) * visitor.scale);
    case "boolean":
      return bytes.some((b) => b !== 0) ? "true" : "false";
    case "string":
      return bytes.toString("utf8").replace(/\0+$/, "");
  }
}

/** The register bytes (wire order) that make the device hold `value`. Throws ModbusValueError. */
export function encodeRegisters(value: string, visitor: RegisterVisitor): Buffer {
  let bytes: Buffer;
  switch (visitor.dataType) {
    case "int":
      bytes = writeInteger(Math.round(parseNumber(value) / visitor.scale), visitor.limit);
      break;
    case "float":
    case "double": {
      const raw = parseNumber(value) / visitor.scale;
      bytes = Buffer.alloc(visitor.limit * 2);
      if (visitor.limit === 2) {
        if (Math.abs(raw) > 3.4028234663852886e38)
          throw new ModbusValueError(`${value} does not fit a float32`);
        bytes.writeFloatBE(raw);
      } else if (visitor.limit === 4) bytes.writeDoubleBE(raw);
      else bytes = writeInteger(Math.round(raw), visitor.limit);
      break;
    }
    case "boolean":
      bytes = writeInteger(parseFlag(value) ? 1 : 0, visitor.limit);
      break;
    case "string": {
      const text = Buffer.from(value, "utf8");
      if (text.length > visitor.limit * 2)
        throw new ModbusValueError(`${JSON.stringify(value)} is longer than ${visitor.limit} register(s)`);
      bytes = Buffer.alloc(visitor.limit * 2);
      text.copy(bytes);
      break;
    }
  }
  return swapRegisters(bytes, visitor);
}

/** A coil or discrete input as a twin value: true/false for BOOLEAN, else 1/0. */
export const decodeBit = (bit: boolean, visitor: RegisterVisitor): string =>
  visitor.dataType === "boolean" ? String(bit) : bit ? "1" : "0";

/** The coil state for a twin value (true/false, 1/0, on/off, or any number ≠ 0). */
export function encodeBit(value: string): boolean {
  try {
    return parseFlag(value);
  } catch (err) {
    const n = Number(value);
    if (value.trim() !== "" && Number.isFinite(n)) return n !== 0;
    throw err;
  }
}
