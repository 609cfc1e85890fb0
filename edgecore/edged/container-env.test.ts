import { describe, expect, it } from "vitest";
import { containerEnv, expand } from "./container-env.js";
import { ContainerConfigError, type ObjectSource } from "./object-source.js";
import type { Container, Pod } from "./pod-spec.js";

const source: ObjectSource = {
  configMap: (ns, name) =>
    ns === "apps" && name === "cfg" ? { MODE: Buffer.from("fast"), LEVEL: Buffer.from("3") } : undefined,
  secret: (ns, name) => (ns === "apps" && name === "creds" ? { password: Buffer.from("s3cr3t") } : undefined),
};
const node = { hostIP: "10.0.0.5", podIP: "10.88.0.7" };

const pod = (container: Record<string, unknown>): Pod =>
  ({
    metadata: { name: "web", namespace: "apps", uid: "u1", labels: { app: "web" } },
    spec: { nodeName: "edge-1", containers: [{ name: "c", image: "busybox", ...container }] },
  }) as Pod;

describe("containerEnv", () => {
  it("builds envFrom then env, later names overriding, with ConfigMap, Secret and downward API values", () => {
    const p = pod({
      envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CFG_" }],
      env: [
        { name: "CFG_MODE", value: "slow" },
        { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "URL", value: "http://$(IP):80/$(MISSING)$$" },
      ],
    });
    const env = containerEnv(p, p.spec.containers[0] as Container, source, node);
    expect(Object.fromEntries(env)).toEqual({
      CFG_MODE: "slow",
      CFG_LEVEL: "3",
      PASSWORD: "s3cr3t",
      NODE: "edge-1",
      APP: "web",
      IP: "10.88.0.7",
      URL: "http://10.88.0.7:80/$(MISSING)$",
    });
  });

  it("fails with the kubelet's message for a missing ConfigMap or key, and skips optional ones", () => {
    const missingMap = pod({ envFrom: [{ configMapRef: { name: "nope" } }] });
    expect(() => containerEnv(missingMap, missingMap.spec.containers[0] as Container, source, node)).toThrow(
      ContainerConfigError,
    );
    const missingKey = pod({
      env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "nokey" } } }],
    });
    expect(() => containerEnv(missingKey, missingKey.spec.containers[0] as Container, source, node)).toThrow(
      "couldn't find key nokey in ConfigMap apps/cfg",
    );
    const optional = pod({
      env: [{ name: "X", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } }],
    });
    expect(containerEnv(optional, optional.spec.containers[0] as Container, source, node).has("X")).toBe(
      false,
    );
  });

  it("expands only defined variables and unescapes $$", () => {
    expect(expand("$(A)-$(B)-$$(A)", new Map([["A", "1"]]))).toBe("1-$(B)-$(A)");
  });
});
