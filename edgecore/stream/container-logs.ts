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
  // Entries go out in batches, not one write per line: a busy log is many short lines.
  let batch = "";
  const flush = async (): Promise<void> => {
    if (batch === "") return;
    const out = batch;
    batch = "";
    await write(out);
  };
  /** Adds an entry to the output; false once limitBytes is used up. */
  const emit = async (entry: Entry): Promise<boolean> => {
    if (options.sinceMs !== undefined && timeMs(entry.time) < options.sinceMs) return true;
    let out = options.timestamps ? `${entry.time} ${entry.text}` : entry.text;
    if (Buffer.byteLength(out) > budget) out = Buffer.from(out).subarray(0, budget).toString("utf8");
    budget -= Buffer.byteLength(out);
    batch += out;
    if (batch.length >= WRITE_BATCH_CHARS) await flush();
    return budget > 0;
  };

  const file = await open(path, "r");
  try {
    let position = 0;
    /** The bytes of a line whose newline has not been read yet. */
    let carry = Buffer.alloc(0);
    /** Reads at most one chunk of what was appended; the whole lines in it ([] if none). */
    const readChunk = async (): Promise<string[]> => {
      const size = (await file.stat()).size;
      if (size < position) {
        // Rotated or truncated under us: start over from the beginning of the new file.
        position = 0;
        carry = Buffer.alloc(0);
      }
      if (size === position) return [];
      const buffer = Buffer.alloc(Math.min(READ_CHUNK_BYTES, size - position));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      position += bytesRead;
      const data =
        carry.byteLength > 0
          ? Buffer.concat([carry, buffer.subarray(0, bytesRead)])
          : buffer.subarray(0, bytesRead);
      // Decode whole lines only: a chunk may end inside a UTF-8 sequence.
      const lastNewline = data.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        carry = Buffer.from(data);
        return [];
      }
      carry = Buffer.from(data.subarray(lastNewline + 1));
      return data.subarray(0, lastNewline).toString("utf8").split("\n");
    };

    /** Emits the entries these raw lines complete; false once limitBytes is used up. */
    const emitLines = async (lines: readonly string[]): Promise<boolean> => {
      for (const raw of lines) {
        const entry = assembler.push(raw);
        if (entry && !(await emit(entry))) return false;
      }
      return true;
    };

    // What is there now. With tailLines only the last N whole entries are kept while reading.
    const tail = options.tailLines;
    const kept: Entry[] = [];
    const initialSize = (await file.stat()).size;
    while (position < initialSize) {
      const lines = await readChunk();
      if (lines.length === 0 && position >= initialSize) break;
      if (tail === undefined || tail < 0) {
        if (!(await emitLines(lines))) return await flush();
        continue;
      }
      for (const raw of lines) {
        const entry = assembler.push(raw);
        if (!entry) continue;
        kept.push(entry);
        // Trimmed in batches: shifting one at a time is quadratic in a long log.
        if (kept.length > 2 * tail + 1024) kept.splice(0, kept.length - tail);
      }
    }
    for (const entry of tail === undefined || tail < 0 ? [] : kept.slice(Math.max(0, kept.length - tail)))
      if (!(await emit(entry))) return await flush();
    await flush();
    if (!options.follow) return;

    const pollMs = control.pollMs ?? 100;
    let lastRunningCheck = Date.now();
    while (!control.signal?.aborted) {
      const lines = await readChunk();
      if (!(await emitLines(lines))) return await flush();
      await flush();
      if (lines.length > 0) continue;
      // Whether the container still runs is a CRI call: asked once a second, not every poll.
      if (Date.now() - lastRunningCheck >= 1000) {
        lastRunningCheck = Date.now();
        if (!(await control.running())) {
          // Stopped: send whatever it wrote before stopping, until a read finds nothing more.
          for (let last = await readChunk(); last.length > 0; last = await readChunk())
            if (!(await emitLines(last))) break;
          return await flush();
        }
      }
      await sleep(pollMs, undefined, control.signal ? { signal: control.signal } : {}).catch(() => undefined);
    }
  } finally {
    await file.close();
  }
}

/** How much of the file one read takes (bounded memory however large the log). */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Characters collected before one write into the stream. */
const WRITE_BATCH_CHARS = 32 * 1024;
