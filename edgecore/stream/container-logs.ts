import { open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** One line of a CRI container log (`<RFC3339Nano> <stdout|stderr> <P|F> <content>`). */
export interface CriLogLine {
  /** As written, RFC 3339 with nanoseconds. */
  readonly time: string;
  readonly stream: "stdout" | "stderr";
  /** False for a partial line (`P`): the content continues in the next line. */
  readonly full: boolean;
  readonly content: string;
}

/** Parses one line of a CRI log file; undefined for a line that is not in the format. */
export function parseCriLogLine(line: string): CriLogLine | undefined {
  const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(line);
  if (!m) {
    // A full line with empty content has no trailing space after the tag.
    const bare = /^(\S+) (stdout|stderr) ([PF])$/.exec(line);
    if (!bare) return undefined;
    return {
      time: bare[1] ?? "",
      stream: bare[2] as "stdout" | "stderr",
      full: bare[3] === "F",
      content: "",
    };
  }
  return { time: m[1] ?? "", stream: m[2] as "stdout" | "stderr", full: m[3] === "F", content: m[4] ?? "" };
}

/** What `kubectl logs` asks for (the kubelet's PodLogOptions that reach a container's log). */
export interface LogOptions {
  readonly follow?: boolean;
  /** Only the last N lines (before following). */
  readonly tailLines?: number;
  /** Prefix each line with its RFC 3339 time. */
  readonly timestamps?: boolean;
  /** Only lines at or after this time (ms since the epoch). */
  readonly sinceMs?: number;
  /** Stop after this many bytes. */
  readonly limitBytes?: number;
}

/** A log entry as it is written out: whole lines, partial pieces joined. */
interface Entry {
  readonly time: string;
  readonly text: string;
}

/** Nanosecond RFC 3339 times compare as milliseconds (enough for sinceSeconds/sinceTime). */
const timeMs = (time: string): number => Date.parse(time);

/** Joins the partial (`P`) pieces of each stream into whole entries, in file order. */
export class LogAssembler {
  readonly #partial = new Map<string, { time: string; text: string }>();

  /** Feeds one raw file line; returns the entry it completes, if any. */
  push(raw: string): Entry | undefined {
    const line = parseCriLogLine(raw);
    if (!line) return undefined;
    const pending = this.#partial.get(line.stream);
    const text = (pending?.text ?? "") + line.content;
    const time = pending?.time ?? line.time;
    if (!line.full) {
      this.#partial.set(line.stream, { time, text });
      return undefined;
    }
    this.#partial.delete(line.stream);
    return { time, text: text + "\n" };
  }
}

/**
 * Streams a container's CRI log file as the kubelet serves `/containerLogs`: whole lines, with
 * tailLines, sinceTime, timestamps and limitBytes applied; with follow, keeps reading what the
 * runtime appends until `running()` says the container stopped or `signal` aborts. `write`
 * resolves when the peer has taken the bytes (back-pressure).
 */
export async function streamContainerLog(
  path: string,
  options: LogOptions,
  write: (chunk: string) => Promise<void>,
  control: {
    readonly running: () => Promise<boolean>;
    readonly signal?: AbortSignal;
    readonly pollMs?: number;
  },
): Promise<void> {
  const assembler = new LogAssembler();
  let budget = options.limitBytes ?? Number.POSITIVE_INFINITY;
  const emit = async (entry: Entry): Promise<boolean> => {
    if (options.sinceMs !== undefined && timeMs(entry.time) < options.sinceMs) return true;
    let out = options.timestamps ? `${entry.time} ${entry.text}` : entry.text;
    if (Buffer.byteLength(out) > budget) out = Buffer.from(out).subarray(0, budget).toString("utf8");
    budget -= Buffer.byteLength(out);
    if (out.length > 0) await write(out);
    return budget > 0;
  };

  const file = await open(path, "r");
  try {
    let position = 0;
    let carry = "";
    const readAvailable = async (): Promise<string[]> => {
      const size = (await file.stat()).size;
      if (size < position) {
        // Rotated or truncated under us: start over from the beginning of the new file.
        position = 0;
        carry = "";
      }
      if (size === position) return [];
      const buffer = Buffer.alloc(size - position);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      position += bytesRead;
      const text = carry + buffer.subarray(0, bytesRead).toString("utf8");
      const lines = text.split("\n");
      carry = lines.pop() ?? "";
      return lines;
    };

    /** Emits the entries these raw lines complete; false once limitBytes is used up. */
    const emitLines = async (lines: readonly string[]): Promise<boolean> => {
      for (const raw of lines) {
        const entry = assembler.push(raw);
        if (entry && !(await emit(entry))) return false;
      }
      return true;
    };

    // What is there now, with tailLines counted in whole entries.
    const entries: Entry[] = [];
    for (const raw of await readAvailable()) {
      const entry = assembler.push(raw);
      if (entry) entries.push(entry);
    }
    const tail = options.tailLines;
    const start = tail === undefined || tail < 0 ? 0 : Math.max(0, entries.length - tail);
    for (const entry of entries.slice(start)) if (!(await emit(entry))) return;
    if (!options.follow) return;

    const pollMs = control.pollMs ?? 100;
    while (!control.signal?.aborted) {
      const lines = await readAvailable();
      if (!(await emitLines(lines))) return;
      if (lines.length > 0) continue;
      if (!(await control.running())) {
        // Stopped: send whatever it wrote before stopping, until a read finds nothing more.
        for (let last = await readAvailable(); last.length > 0; last = await readAvailable())
          if (!(await emitLines(last))) return;
        return;
      }
      await sleep(pollMs, undefined, control.signal ? { signal: control.signal } : {}).catch(() => undefined);
    }
  } finally {
    await file.close();
  }
}
