import cliProgress from "cli-progress";

/** What the progress display shows; updated every second by the run. */
export interface ProgressState {
  readonly phase: string;
  readonly nodes: number;
  readonly connected: number;
  readonly registered: number;
  readonly pods: number;
  readonly podsRunning: number;
  readonly messagesPerSecond: number;
  readonly errors: number;
  /** The most recent distinct error, shown on plain lines while errors occur. */
  readonly lastError?: string | undefined;
}

export interface Progress {
  update(state: ProgressState): void;
  /** A line that must stay on screen (phase changes, results). */
  log(line: string): void;
  stop(): void;
}

const line = (s: ProgressState, detail: string): string =>
  `[${s.phase}] nodes ${s.connected}/${s.nodes} connected, ${s.registered} registered${detail} | pods ${s.podsRunning}/${s.pods} Running | ${s.messagesPerSecond} msgs/s | errors ${s.errors}` +
  (s.errors > 0 && s.lastError ? ` (last: ${s.lastError.slice(0, 160)})` : "");

/**
 * On a TTY, one live bar (cli-progress) of nodes connected; elsewhere (CI, files) a plain line
 * every `plainEveryMs`. `detail` adds to the nodes figure (the main job: nodes per replica).
 */
export function createProgress(
  stream: NodeJS.WriteStream = process.stderr,
  plainEveryMs = 10_000,
  detail: () => string = () => "",
): Progress {
  const extra = (): string => {
    const d = detail();
    return d === "" ? "" : ` (${d})`;
  };
  if (!stream.isTTY) {
    let last = 0;
    return {
      update(state) {
        const now = Date.now();
        if (now - last < plainEveryMs) return;
        last = now;
        stream.write(line(state, extra()) + "\n");
      },
      log: (text) => void stream.write(text + "\n"),
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        "[{phase}] nodes {bar} {value}/{total} ({registered} registered){detail} | pods {podsRunning}/{pods} Running | {rate} msgs/s | errors {errors}",
      hideCursor: true,
      clearOnComplete: false,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(state) {
      const payload = {
        phase: state.phase,
        registered: state.registered,
        detail: extra(),
        pods: state.pods,
        podsRunning: state.podsRunning,
        rate: state.messagesPerSecond,
        errors: state.errors,
      };
      if (!started) {
        bar.start(state.nodes, state.connected, payload);
        started = true;
      } else {
        bar.setTotal(state.nodes);
        bar.update(state.connected, payload);
      }
    },
    log(text) {
      if (started) bar.stop();
      started = false;
      stream.write(text + "\n");
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/** No output (tests, or embedding the simulator in another program). */
export const silentProgress: Progress = {
  update: () => undefined,
  log: () => undefined,
  stop: () => undefined,
};
