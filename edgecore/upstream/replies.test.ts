import { describe, expect, it } from "vitest";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { errorTo, newMessage, responseTo } from "../../protocol/message.js";
import { replyError, replyFailure } from "./replies.js";

const request = newMessage({
  source: Source.Edged,
  group: Group.Meta,
  operation: Operation.Patch,
  resource: "ns/podpatch/p",
});

describe("cloud replies", () => {
  it("read success as no failure", () => {
    expect(replyFailure(responseTo(request, { Object: { kind: "Pod" }, Err: null }))).toBeUndefined();
    expect(replyFailure(responseTo(request, "OK"))).toBeUndefined();
  });

  it("read the three failure shapes KubeEdge's cloud answers with", () => {
    expect(replyFailure(errorTo(request, "refused"))).toEqual({ code: undefined, message: "refused" });
    expect(
      replyFailure(
        responseTo(request, { Object: null, Err: { ErrStatus: { code: 409, message: "conflict" } } }),
      ),
    ).toEqual({ code: 409, message: "conflict" });
    expect(replyFailure(responseTo(request, { ErrStatus: { code: 404, message: "not found" } }))).toEqual({
      code: 404,
      message: "not found",
    });
    expect(replyError(responseTo(request, { ErrStatus: { code: 403 } }))).toBe("error");
  });
});
