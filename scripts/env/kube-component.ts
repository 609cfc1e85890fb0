import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KUBERNETES_BIN_DIR, builtBinary } from "./binaries.js";
import type { Component } from "./component.js";
import type { ControlPlanePki } from "./control-plane-pki.js";
import { withOverrides } from "./flag-overrides.js";
import { httpOk } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

export interface KubeComponentOptions {
  readonly dir: string;
  /** Kubeconfig with the component's own client identity. */
  readonly kubeconfig: string;
  readonly pki: ControlPlanePki;
  /** Extra flags; one named here replaces the default of the same name (see withOverrides). */
  readonly extraArgs?: readonly string[];
}

/**
 * Starts kube-scheduler or kube-controller-manager: both take the same kubeconfig, authn/authz
 * delegation and serving flags, and answer /healthz on their secure port.
 */
export async function startKubeComponent(
  name: "kube-scheduler" | "kube-controller-manager",
  options: KubeComponentOptions,
  componentArgs: readonly string[],
): Promise<Component> {
  const port = await freePort();
  const { pki, kubeconfig } = options;
  const ca = readFileSync(pki.caCert, "utf8");
  const proc = new ManagedProcess({
    name,
    command: builtBinary(KUBERNETES_BIN_DIR, name),
    args: withOverrides(
      [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${port}`,
        `--tls-cert-file=${pki.componentServingCert}`,
        `--tls-private-key-file=${pki.componentServingKey}`,
        // One instance each: leader election would only delay start-up.
        "--leader-elect=false",
        "--v=1",
        ...componentArgs,
      ],
      options.extraArgs ?? [],
    ),
    logFile: join(options.dir, `${name}.log`),
    ready: () => httpOk(`https://127.0.0.1:${port}/healthz`, { ca }),
    readyTimeoutMs: 60_000,
  });
  await proc.start();
  return {
    name,
    logFile: proc.spec.logFile,
    stop: () => proc.stop(),
    get running() {
      return proc.running;
    },
  };
}

export function startKubeScheduler(options: KubeComponentOptions): Promise<Component> {
  return startKubeComponent("kube-scheduler", options, []);
}

export function startKubeControllerManager(options: KubeComponentOptions): Promise<Component> {
  const { pki } = options;
  return startKubeComponent("kube-controller-manager", options, [
    `--root-ca-file=${pki.caCert}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    // Each controller uses its own service account, as in a production cluster, so RBAC is real.
    "--use-service-account-credentials=true",
    "--controllers=*",
  ]);
}
