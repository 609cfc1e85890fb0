import { describe, expect, it } from "vitest";
import { ResponseHeadError, ResponseHeadParser } from "./response-head.js";

describe("the edge's response head", () => {
  it("is read across chunks, and body bytes after it are handed back", () => {
    const parser = new ResponseHeadParser();
    expect(parser.push(Buffer.from("HTTP/1.1 404 Not Fo"))).toBeUndefined();
    const head = parser.push(Buffer.from("und\r\nContent-Type: text/plain\r\n\r\npod gone"));
    expect(head?.status).toBe(404);
    expect(head?.headers.get("content-type")).toBe("text/plain");
    expect(Buffer.from(head?.rest ?? []).toString()).toBe("pod gone");
  });

  it("is refused when it is not HTTP or never ends", () => {
    expect(() => new ResponseHeadParser().push(Buffer.from("SSH-2.0\r\n\r\n"))).toThrow(ResponseHeadError);
    expect(() => new ResponseHeadParser().push(Buffer.alloc(20_000, 65))).toThrow(/16384 bytes/);
  });
});
