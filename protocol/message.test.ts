import { describe, expect, it } from "vitest";
import { requiresAck } from "./ack-policy.js";
import { Group, Operation, Source } from "./constants.js";
import { encodeMessage } from "./encoder.js";
import { errorTo, newMessage, responseTo } from "./message.js";

const insertPod = newMessage({
  id: "c1",
  now: 1718000000000,
  source: Source.EdgeController,
  group: Group.Resource,
  operation: Operation.Insert,
  resource: "default/pod/nginx",
  resourceVersion: "4242",
  content: { kind: "Pod" },
});

describe("messages", () => {
  it("newMessage - encodes in KubeEdge's field order with empty fields omitted", () => {
    expect(encodeMessage(insertPod)).toBe(
      '{"header":{"msg_id":"c1","timestamp":1718000000000,"resourceversion":"4242"},"route":{"source":"edgecontroller","group":"resource","operation":"insert","resource":"default/pod/nginx"},"content":{"kind":"Pod"}}',
    );
  });

  it("responseTo - answers the request id and copies source, group and resource (the edge's ack)", () => {
    const ack = responseTo(insertPod, "OK", { id: "e9", now: 1718000000050 });
    expect(encodeMessage(ack)).toBe(
      '{"header":{"msg_id":"e9","parent_msg_id":"c1","timestamp":1718000000050},"route":{"source":"edgecontroller","group":"resource","operation":"response","resource":"default/pod/nginx"},"content":"OK"}',
    );
  });

  it("errorTo - answers the request id with operation error and the text as content", () => {
    const err = errorTo(insertPod, "boom", { id: "e10", now: 1 });
    expect(err.header.parent_msg_id).toBe("c1");
    expect(err.route.operation).toBe("error");
    expect(err.content).toBe("boom");
  });
});

describe("requiresAck (KubeEdge's noAckRequired)", () => {
  const msg = (
    operation: string,
    resource: string,
    content: unknown = null,
    source: string = Source.EdgeController,
  ) => newMessage({ source, group: Group.Resource, operation, resource, content });

  it("objects the edge stores need an ack", () => {
    expect(requiresAck(insertPod)).toBe(true);
    expect(requiresAck(msg("update", "default/configmap/cfg"))).toBe(true);
    expect(requiresAck(msg("delete", "default/secret/s"))).toBe(true);
    expect(requiresAck(msg("update", "null/node/edge-1"))).toBe(true);
  });

  it("replies, status write-backs, tokens and CA need none", () => {
    expect(requiresAck(msg("response", "null/nodepatch/edge-1", { Object: {} }))).toBe(false);
    expect(requiresAck(msg("response", "default/podpatch/p", { Object: {} }))).toBe(false);
    expect(requiresAck(msg("response", "kube-node-lease/lease/edge-1", {}))).toBe(false);
    expect(requiresAck(msg("response", "null/node/edge-1", {}))).toBe(false);
    expect(requiresAck(msg("response", "default/pod/p", {}))).toBe(false);
    expect(requiresAck(msg("response", "default/configmap/c", "OK"))).toBe(false);
    expect(requiresAck(msg("response", "default/serviceaccounttoken/sa", {}))).toBe(false);
    expect(requiresAck(msg("response", "k8s/ca.crt", "pem"))).toBe(false);
    expect(requiresAck(msg("update", "default/podlist", []))).toBe(false);
  });

  it("a configmap query reply needs an ack (the edge stores it)", () => {
    expect(requiresAck(msg("response", "default/configmap/cfg", { kind: "ConfigMap" }))).toBe(true);
  });
});
