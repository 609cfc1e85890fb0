import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import { CrdNotReadyError } from "../errors.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";
import { ensureCrds } from "./crd-installer.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

describe("ensureCrds", () => {
  const group = `ef${randomBytes(3).toString("hex")}.example.com`;
  const name = `widgets.${group}`;
  const crd: KubeObject = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name, labels: { "app.kubernetes.io/managed-by": "edgefleet-cloudcore" } },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };
  let rest: KubeRest | undefined;

  afterAll(async () => {
    await rest
      ?.request("delete", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)
      .catch(() => undefined);
    rest?.close();
  });

  it("without managing, waits for a missing CRD and fails naming it; managing, installs it and waits until Established", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
    rest = await KubeRest.create(kc);

    const waited = ensureCrds(rest, [crd], log, { manage: false, timeoutMs: 1500 });
    await expect(waited).rejects.toBeInstanceOf(CrdNotReadyError);
    await expect(waited).rejects.toThrow(`CRD ${name} is not installed`);

    await ensureCrds(rest, [crd], log, { manage: true });
    const installed = await rest.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
    );
    expect(installed.status?.conditions?.find((c) => c.type === "Established")?.status).toBe("True");

    // Installed by someone else: waiting is enough.
    await ensureCrds(rest, [crd], log, { manage: false, timeoutMs: 5000 });
  }, 30_000);
});
