import { STATUS_CODES } from "node:http";

/**
 * A whole HTTP/1.1 response as the kubelet writes an error before streaming starts (plain text,
 * `WriteError`): the edge sends these bytes through the stream session and the cloud relays them
 * to the apiserver as they are, which turns 400/404/500 into the matching API error.
 */
export function httpErrorResponse(status: number, message: string): Uint8Array {
  const body = Buffer.from(`${message}\n`, "utf8");
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "X-Content-Type-Options: nosniff\r\n" +
        `Content-Length: ${body.byteLength}\r\n` +
        "Connection: close\r\n\r\n",
      "latin1",
    ),
    body,
  ]);
}

/** The head of a streamed log response: the body runs until the connection closes. */
export function httpStreamHead(): Uint8Array {
  return Buffer.from(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n",
    "latin1",
  );
}
