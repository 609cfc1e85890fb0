/**
 * Sends DeviceTwin's queued reports (`device/<ns>/<name>/twin/edge_updated` and `.../state/update`)
 * to the cloud, one at a time in queue order, and removes each once the cloud answers "OK". The
 * queue lives in SQLite, so reports made offline (or before a crash) go up once the cloud is back.
 */
import type { Logger } from "pino";
import { backoffDelay, type BackoffOptions } from "../../protocol/backoff.js";
import { Group, OK_CONTENT, Operation, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";
import type { OutboxEntry } from "./twin-store.js";

/** The part of the store the sender needs. */
export interface ReportQueue {
  pendingReports(): OutboxEntry[];
  ackReport(resource: string, revision: number): boolean;
  failReport(resource: string, revision: number): number;
}

export interface ReportSenderOptions {
  readonly queue: ReportQueue;
  /** Sends through the tunnel; resolves with the cloud's reply, rejects when it cannot (offline). */
  readonly upstream: (message: Message) => Promise<Message>;
  readonly log: Logger;
  /** Delay before retrying after a failure (offline or refused). */
  readonly retry: BackoffOptions;
  /** A report the cloud refuses this many times is dropped (logged). */
  readonly maxAttempts: number;
  readonly random?: () => number;
}

export interface ReportSenderStats {
  readonly sent: number;
  readonly refused: number;
  readonly dropped: number;
  readonly failed: number;
}

/** KubeEdge's devicetwin message to the cloud: source `twin`, group `resource`, operation `update`. */
export function reportMessage(resource: string, content: unknown): Message {
  return newMessage({
    source: Source.TwinGroupModule,
    group: Group.Resource,
    operation: Operation.Update,
    resource,
    content,
  });
}

export class ReportSender {
  #running = false;
  #again = false;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stats = { sent: 0, refused: 0, dropped: 0, failed: 0 };

  constructor(private readonly options: ReportSenderOptions) {}

  get stats(): ReportSenderStats {
    return { ...this.#stats };
  }

  /** Sends what is queued (now, or after the pass under way). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#flush();
  }

  /** The tunnel is up again: retry at once, with a fresh backoff. */
  onCloudConnected(): void {
    this.#attempt = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.kick();
  }

  /** Stops retrying; a send under way finishes but touches nothing afterwards. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flush(): Promise<void> {
    this.#running = true;
    let failed = false;
    try {
      // Another pass while kicks arrived during this one (a new report, the cloud back).
      do {
        this.#again = false;
        failed = false;
        for (const entry of this.options.queue.pendingReports()) {
          const outcome = await this.#send(entry);
          if (this.#closed) return;
          if (outcome !== "sent") failed = true;
          if (outcome === "offline") break;
        }
      } while (this.#again);
    } catch (err) {
      failed = true;
      this.options.log.error({ err: (err as Error).message }, "sending device reports failed");
    } finally {
      this.#running = false;
    }
    if (failed) this.#scheduleRetry();
    else this.#attempt = 0;
  }

  async #send(entry: OutboxEntry): Promise<"sent" | "refused" | "offline"> {
    const { queue, log } = this.options;
    let reply: Message;
    try {
      reply = await this.options.upstream(reportMessage(entry.resource, entry.content));
    } catch (err) {
      this.#stats.failed++;
      log.debug({ resource: entry.resource, err: (err as Error).message }, "device report not sent; kept");
      return "offline";
    }
    if (this.#closed) return "sent";
    if (reply.route.operation === Operation.Response && reply.content === OK_CONTENT) {
      this.#stats.sent++;
      queue.ackReport(entry.resource, entry.revision);
      return "sent";
    }
    this.#stats.refused++;
    const attempts = queue.failReport(entry.resource, entry.revision);
    if (attempts >= this.options.maxAttempts) {
      this.#stats.dropped++;
      queue.ackReport(entry.resource, entry.revision);
      log.warn(
        { resource: entry.resource, attempts, reply: reply.content },
        "the cloud keeps refusing a device report; dropped",
      );
    } else {
      log.warn(
        { resource: entry.resource, attempts, reply: reply.content },
        "the cloud refused a device report",
      );
    }
    return "refused";
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#timer) return;
    const delay = backoffDelay(this.#attempt++, this.options.retry, this.options.random);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.kick();
    }, delay);
    this.#timer.unref();
  }
}
