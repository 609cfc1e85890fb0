import { describe, expect, it } from "vitest";
import type { PodJson } from "../kube/objects.js";
import { podReferences, usesServiceAccountToken } from "./pod-references.js";

describe("podReferences", () => {
  it("finds configmaps and secrets in volumes, projected sources, env, envFrom, every container kind and imagePullSecrets", () => {
    const pod: PodJson = {
      metadata: { namespace: "ns", name: "p" },
      spec: {
        volumes: [
          { name: "a", configMap: { name: "cm-vol" } },
          { name: "b", secret: { secretName: "sec-vol" } },
          {
            name: "c",
            projected: {
              sources: [
                { configMap: { name: "cm-proj" } },
                { secret: { name: "sec-proj" } },
                { serviceAccountToken: {} },
              ],
            },
          },
          { name: "d", emptyDir: {} },
        ],
        initContainers: [
          { env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "cm-init", key: "k" } } }] },
        ],
        containers: [
          {
            env: [{ name: "Y", valueFrom: { secretKeyRef: { name: "sec-env", key: "k" } } }, { name: "Z" }],
            envFrom: [{ configMapRef: { name: "cm-from" } }, { secretRef: { name: "sec-from" } }],
          },
        ],
        ephemeralContainers: [{ envFrom: [{ configMapRef: { name: "cm-eph" } }] }],
        imagePullSecrets: [{ name: "pull" }],
      },
    };
    expect([...podReferences(pod)].sort()).toEqual([
      "configmap/ns/cm-eph",
      "configmap/ns/cm-from",
      "configmap/ns/cm-init",
      "configmap/ns/cm-proj",
      "configmap/ns/cm-vol",
      "secret/ns/pull",
      "secret/ns/sec-env",
      "secret/ns/sec-from",
      "secret/ns/sec-proj",
      "secret/ns/sec-vol",
    ]);
    expect(usesServiceAccountToken(pod)).toBe(true);
  });

  it("returns nothing for a pod that references nothing, and ignores empty names", () => {
    const pod: PodJson = {
      metadata: { namespace: "ns", name: "p" },
      spec: {
        containers: [{ name: "c", envFrom: [{ configMapRef: {} }] }],
        volumes: [{ name: "v", configMap: { name: "" } }],
      },
    };
    expect(podReferences(pod).size).toBe(0);
    expect(usesServiceAccountToken(pod)).toBe(false);
  });
});
