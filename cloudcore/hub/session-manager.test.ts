import { describe, expect, it } from "vitest";
import { closeReasonLabel } from "./session-manager.js";
import { CloseCode } from "./tunnel-connection.js";

describe("the close reason label of an ended tunnel session", () => {
  it("names edgefleet's own close codes", () => {
    expect(closeReasonLabel(CloseCode.KeepaliveTimeout)).toBe("KeepaliveTimeout");
    expect(closeReasonLabel(CloseCode.Reconnect)).toBe("Reconnect");
    expect(closeReasonLabel(CloseCode.Normal)).toBe("Normal");
  });

  it("names the standard codes a dropped edge produces (a cut network is 1006, Abnormal)", () => {
    expect(closeReasonLabel(1006)).toBe("Abnormal");
    expect(closeReasonLabel(1005)).toBe("NoStatus");
  });

  it("keeps an unknown code as its number", () => {
    expect(closeReasonLabel(4999)).toBe("4999");
  });
});
