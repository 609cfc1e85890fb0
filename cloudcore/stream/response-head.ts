/** The edge's response head is not HTTP/1.1 as we write it. */
export class ResponseHeadError extends Error {
  override readonly name = "ResponseHeadError";
  readonly code = "EF_ERR_STREAM_RESPONSE_HEAD";
}

export interface ResponseHead {
  readonly status: number;
  /** Lower-case names; the last value of a repeated header. */
  readonly headers: ReadonlyMap<string, string>;
  /** Body bytes that came in the same chunks as the head. */
  readonly rest: Uint8Array;
}

const MAX_HEAD_BYTES = 16 * 1024;
const END = Buffer.from("\r\n\r\n", "latin1");

/**
 * Reads the status line and headers of an HTTP/1.1 response that arrives in pieces (the edge's
 * answer to a log request). Only the head is parsed; the body is passed through as it is.
 */
export class ResponseHeadParser {
  #buffered = Buffer.alloc(0);

  /** Feeds bytes; returns the head once complete (then stop feeding), else undefined. */
  push(chunk: Uint8Array): ResponseHead | undefined {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    const end = this.#buffered.indexOf(END);
    if (end < 0) {
      if (this.#buffered.byteLength > MAX_HEAD_BYTES)
        throw new ResponseHeadError(`no end of the response head within ${MAX_HEAD_BYTES} bytes`);
      return undefined;
    }
    const [statusLine = "", ...lines] = this.#buffered.subarray(0, end).toString("latin1").split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) throw new ResponseHeadError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new ResponseHeadError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const rest = this.#buffered.subarray(end + END.byteLength);
    this.#buffered = Buffer.alloc(0);
    return { status: Number(match[1]), headers, rest };
  }
}
