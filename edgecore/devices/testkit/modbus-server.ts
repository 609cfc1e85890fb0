/** A Modbus TCP server for tests (jsmodbus), on 127.0.0.1 at a port the OS picks. */
import { createServer, type AddressInfo, type Socket } from "node:net";
import { ModbusTCPServer } from "jsmodbus";

export interface TestModbusServer {
  readonly port: number;
  /** Holding register `address`, as an unsigned 16-bit value. */
  register(address: number): number;
  setRegister(address: number, value: number): void;
  /** Closes the listener and every client connection. */
  close(): Promise<void>;
}

/** `holding` is shared with a previous server (a device that restarts keeps its registers). */
export async function startModbusServer(
  options: { readonly port?: number; readonly holding?: Buffer } = {},
): Promise<TestModbusServer & { readonly holding: Buffer }> {
  const registers = 64;
  const holding = options.holding ?? Buffer.alloc(registers * 2);
  const listener = createServer();
  const sockets = new Set<Socket>();
  listener.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A mapper that stops mid-request resets its connection; that is not the test's failure.
    socket.on("error", () => undefined);
  });
  new ModbusTCPServer(listener, {
    holding,
    coils: Buffer.alloc(registers),
    input: Buffer.alloc(registers * 2),
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  return {
    port: (listener.address() as AddressInfo).port,
    holding,
    register: (address) => holding.readUInt16BE(address * 2),
    setRegister: (address, value) => holding.writeUInt16BE(value & 0xffff, address * 2),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
