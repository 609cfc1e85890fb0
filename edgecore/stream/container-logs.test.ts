import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LogAssembler, parseCriLogLine, streamContainerLog } from "./container-logs.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const logFile = (lines: string[]): string => {
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-logs-"));
  dirs.push(dir);
  const file = join(dir, "0.log");
  writeFileSync(file, lines.map((l) => l + "\n").join(""));
  return file;
};
const line = (second: number, text: string, tag = "F", stream = "stdout"): string =>
  `2026-11-23T10:00:${String(second).padStart(2, "0")}.123456789Z ${stream} ${tag} ${text}`;

async function read(file: string, options: Parameters<typeof streamContainerLog>[1]): Promise<string> {
  let out = "";
  await streamContainerLog(file, options, async (chunk) => void (out += chunk), {
    running: async () => false,
  });
  return out;
}

describe("CRI log lines", () => {
  it("parse time, stream, partial flag and content, spaces included", () => {
    expect(parseCriLogLine(line(1, "hello  world"))).toEqual({
      time: "2026-11-23T10:00:01.123456789Z",
      stream: "stdout",
      full: true,
      content: "hello  world",
    });
    expect(parseCriLogLine("2026-11-23T10:00:01Z stderr F")).toMatchObject({ stream: "stderr", content: "" });
    expect(parseCriLogLine("not a log line")).toBeUndefined();
  });

  it("join partial pieces per stream into one line", () => {
    const a = new LogAssembler();
    expect(a.push(line(1, "abc", "P"))).toBeUndefined();
    expect(a.push(line(1, "err", "F", "stderr"))).toEqual({
      time: "2026-11-23T10:00:01.123456789Z",
      text: "err\n",
    });
    expect(a.push(line(2, "def"))).toEqual({ time: "2026-11-23T10:00:01.123456789Z", text: "abcdef\n" });
  });
});

describe("streamContainerLog", () => {
  const file = (): string =>
    logFile([line(1, "one"), line(2, "tw", "P"), line(2, "o"), line(3, "three"), line(4, "four")]);

  it("writes the content of every line, partials joined, as the kubelet serves /containerLogs", async () => {
    expect(await read(file(), {})).toBe("one\ntwo\nthree\nfour\n");
  });

  it("applies tailLines, timestamps, sinceTime and limitBytes", async () => {
    expect(await read(file(), { tailLines: 2 })).toBe("three\nfour\n");
    expect(await read(file(), { tailLines: 0 })).toBe("");
    expect(await read(file(), { tailLines: 1, timestamps: true })).toBe(
      "2026-11-23T10:00:04.123456789Z four\n",
    );
    expect(await read(file(), { sinceMs: Date.parse("2026-11-23T10:00:03Z") })).toBe("three\nfour\n");
    expect(await read(file(), { limitBytes: 6 })).toBe("one\ntw");
  });

  it("follows what the container appends until it stops", async () => {
    const f = logFile([line(1, "first")]);
    let running = true;
    let out = "";
    const done = streamContainerLog(f, { follow: true }, async (chunk) => void (out += chunk), {
      running: async () => running,
      pollMs: 10,
    });
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(f, line(2, "second") + "\n");
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(f, line(3, "last") + "\n");
    running = false;
    await done;
    expect(out).toBe("first\nsecond\nlast\n");
  });

  it("stops following when aborted", async () => {
    const controller = new AbortController();
    const done = streamContainerLog(logFile([line(1, "x")]), { follow: true }, async () => undefined, {
      running: async () => true,
      signal: controller.signal,
      pollMs: 10,
    });
    controller.abort();
    await expect(done).resolves.toBeUndefined();
  });
});

describe("streamContainerLog on a log larger than one read", () => {
  // 40,000 lines of ~75 bytes: about 3 MiB, three read chunks, with a two-byte character in every
  // line so that chunk edges fall inside UTF-8 sequences somewhere.
  const big = (): { file: string; texts: string[] } => {
    const texts = Array.from({ length: 40_000 }, (_, i) => `line ${i} café`);
    return { file: logFile(texts.map((t) => line(1, t))), texts };
  };

  it("reads it whole, every character intact, in few writes", async () => {
    const { file, texts } = big();
    const writes: string[] = [];
    await streamContainerLog(file, {}, async (chunk) => void writes.push(chunk), {
      running: async () => false,
    });
    expect(writes.join("")).toBe(texts.map((t) => t + "\n").join(""));
    // Batched: not one write per line.
    expect(writes.length).toBeLessThan(100);
  });

  it("keeps only the last tailLines entries while reading", async () => {
    const { file, texts } = big();
    expect(await read(file, { tailLines: 3 })).toBe(
      texts
        .slice(-3)
        .map((t) => t + "\n")
        .join(""),
    );
    expect(await read(file, { tailLines: 0 })).toBe("");
  });
});
