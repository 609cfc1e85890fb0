import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { collectCycleMs } from "./modbus-mapper.js";
import {
  decodeBit,
  decodeRegisters,
  encodeBit,
  encodeRegisters,
  parseTcpConfig,
  parseVisitor,
  swapRegisters,
  wordsToBuffer,
  type RegisterVisitor,
} from "./modbus-codec.js";

const visitor = (fields: Partial<RegisterVisitor>): RegisterVisitor => ({
  register: "HoldingRegister",
  offset: 0,
  limit: 1,
  scale: 1,
  isSwap: false,
  isRegisterSwap: false,
  dataType: "int",
  ...fields,
});

describe("modbus visitor config", () => {
  it("parseVisitor - fills KubeEdge's defaults (limit 1, scale 1, no swaps) and takes the type from the model", () => {
    expect(parseVisitor({ register: "HoldingRegister", offset: 2 }, "FLOAT")).toEqual(
      visitor({ offset: 2, dataType: "float" }),
    );
  });

  it("parseVisitor - configData.dataType wins over the model type; strings are coerced", () => {
    expect(
      parseVisitor(
        {
          register: "InputRegister",
          offset: "3",
          limit: "2",
          scale: "0.5",
          isSwap: "true",
          dataType: "Double",
        },
        "INT",
      ),
    ).toEqual(
      visitor({
        register: "InputRegister",
        offset: 3,
        limit: 2,
        scale: 0.5,
        isSwap: true,
        dataType: "double",
      }),
    );
  });

  it("parseVisitor - names the offending field", () => {
    expect(() => parseVisitor({ register: "Holding", offset: 0 }, "INT")).toThrow(
      /^visitors\.configData\.register:/,
    );
    expect(() => parseVisitor({ register: "HoldingRegister" }, "INT")).toThrow(
      /^visitors\.configData\.offset:/,
    );
    expect(() => parseVisitor({ register: "HoldingRegister", offset: 0, scale: 0 }, "INT")).toThrow(
      /scale: must not be 0/,
    );
    expect(() => parseVisitor({ register: "HoldingRegister", offset: 0, limit: 3 }, "INT")).toThrow(
      /limit: 3 registers/,
    );
    expect(() => parseVisitor({ register: "CoilRegister", offset: 0, limit: 2 }, "BOOLEAN")).toThrow(/limit/);
    expect(() => parseVisitor({ register: "HoldingRegister", offset: 0 }, "BYTES")).toThrow(/dataType/);
  });

  it("parseTcpConfig - ip, port (number or string) and slaveID, defaulting to 502 and 1", () => {
    expect(parseTcpConfig({ ip: "10.0.0.5" })).toEqual({ host: "10.0.0.5", port: 502, slaveId: 1 });
    expect(parseTcpConfig({ ip: "10.0.0.5", port: "5502", slaveID: 3, communicateMode: "TCP" })).toEqual({
      host: "10.0.0.5",
      port: 5502,
      slaveId: 3,
    });
    expect(() => parseTcpConfig({ port: 502 })).toThrow(/^protocol\.configData\.ip:/);
    expect(() => parseTcpConfig({ ip: "x", communicateMode: "RTU" })).toThrow(/only TCP/);
  });

  it("collectCycleMs - milliseconds, nanosecond-sized values as the KubeEdge website writes them, default when absent", () => {
    expect(collectCycleMs(500, 1000)).toBe(500);
    expect(collectCycleMs(10_000_000_000, 1000)).toBe(10_000);
    expect(collectCycleMs(undefined, 1000)).toBe(1000);
    expect(collectCycleMs(0, 1000)).toBe(1000);
  });
});

describe("register scaling", () => {
  it("decodeRegisters - a signed 16-bit register times scale, without float noise", () => {
    expect(decodeRegisters(wordsToBuffer([215]), visitor({ dataType: "float", scale: 0.1 }))).toBe("21.5");
    expect(decodeRegisters(wordsToBuffer([0xffce]), visitor({ dataType: "float", scale: 0.1 }))).toBe("-5");
    expect(decodeRegisters(wordsToBuffer([0xffce]), visitor({}))).toBe("-50");
    expect(decodeRegisters(wordsToBuffer([7]), visitor({ scale: 10 }))).toBe("70");
  });

  it("decodeRegisters - float32 over two registers, high word first unless isRegisterSwap", () => {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatBE(21.3);
    expect(decodeRegisters(bytes, visitor({ limit: 2, dataType: "float" }))).toBe("21.3");
    const lowFirst = Buffer.concat([bytes.subarray(2), bytes.subarray(0, 2)]);
    expect(decodeRegisters(lowFirst, visitor({ limit: 2, dataType: "float", isRegisterSwap: true }))).toBe(
      "21.3",
    );
  });

  it("decodeRegisters - boolean and string registers", () => {
    expect(decodeRegisters(wordsToBuffer([1]), visitor({ dataType: "boolean" }))).toBe("true");
    expect(decodeRegisters(Buffer.from("ok\0\0"), visitor({ limit: 2, dataType: "string" }))).toBe("ok");
  });

  it("encodeRegisters - divides by scale and rounds to the register's integer", () => {
    expect(encodeRegisters("21.5", visitor({ dataType: "float", scale: 0.1 }))).toEqual(wordsToBuffer([215]));
    expect(encodeRegisters("-5", visitor({ dataType: "float", scale: 0.1 }))).toEqual(
      wordsToBuffer([0xffce]),
    );
    expect(encodeRegisters("65535", visitor({}))).toEqual(wordsToBuffer([0xffff]));
  });

  it("encodeRegisters - refuses what the registers cannot hold", () => {
    expect(() => encodeRegisters("70000", visitor({}))).toThrow(/does not fit/);
    expect(() => encodeRegisters("warm", visitor({}))).toThrow(/not a number/);
    expect(() => encodeRegisters("toolong", visitor({ dataType: "string", limit: 2 }))).toThrow(/longer/);
  });

  it("swapRegisters - isSwap swaps bytes in each register, isRegisterSwap reverses registers", () => {
    const raw = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...swapRegisters(raw, { isSwap: true, isRegisterSwap: false })]).toEqual([
      2, 1, 4, 3, 6, 5, 8, 7,
    ]);
    expect([...swapRegisters(raw, { isSwap: false, isRegisterSwap: true })]).toEqual([
      7, 8, 5, 6, 3, 4, 1, 2,
    ]);
  });

  it("encodeRegisters then decodeRegisters - gives back an int that fits, whatever the swaps and width", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: -32768, max: 32767 }),
        (limit, isSwap, isRegisterSwap, n) => {
          const v = visitor({ limit, isSwap, isRegisterSwap });
          expect(decodeRegisters(encodeRegisters(String(n), v), v)).toBe(String(n));
        },
      ),
    );
  });

  it("coils - BOOLEAN properties read true/false, others 1/0; writes accept either", () => {
    expect(decodeBit(true, visitor({ register: "CoilRegister", dataType: "boolean" }))).toBe("true");
    expect(decodeBit(false, visitor({ register: "CoilRegister" }))).toBe("0");
    expect(encodeBit("on")).toBe(true);
    expect(encodeBit("0")).toBe(false);
    expect(encodeBit("2")).toBe(true);
    expect(() => encodeBit("maybe")).toThrow(/true or false/);
  });
});
