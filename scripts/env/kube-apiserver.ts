import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KUBERNETES_BIN_DIR, builtBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { SERVICE_CIDR, type ControlPlanePki } from "./control-plane-pki.js";
import { httpGet } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

export interface KubeApiserver extends Component {
  /** https://127.0.0.1:<port> */
  readonly url: string;
}

export interface KubeApiserverOptions {
  readonly dir: string;
  readonly etcdUrl: string;
  readonly pki: ControlPlanePki;
  /** Extra flags, for later components (e.g. the stream server's CA). */
  readonly extraArgs?: readonly string[];
}

/** Starts kube-apiserver with TLS, client-certificate authentication, Node+RBAC authorization. */
export async function startKubeApiserver(options: KubeApiserverOptions): Promise<KubeApiserver> {
  const { dir, pki } = options;
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const tls = {
    ca: readFileSync(pki.caCert, "utf8"),
    cert: readFileSync(pki.adminCert, "utf8"),
    key: readFileSync(pki.adminKey, "utf8"),
  };
  const proc = new ManagedProcess({
    name: "kube-apiserver",
    command: builtBinary(KUBERNETES_BIN_DIR, "kube-apiserver"),
    args: [
      `--etcd-servers=${options.etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${join(dir, "certs")}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.kubeletClientCert}`,
      `--kubelet-client-key=${pki.kubeletClientKey}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=true",
      // Endpoints may not hold loopback addresses, and the apiserver only listens on loopback.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
      "--v=1",
      ...(options.extraArgs ?? []),
    ],
    logFile: join(dir, "kube-apiserver.log"),
    ready: async () => (await httpGet(`${url}/readyz`, tls)).status === 200,
    readyTimeoutMs: 90_000,
    stopTimeoutMs: 15_000,
  });
  await proc.start();
  return { name: "kube-apiserver", logFile: proc.spec.logFile, url, stop: () => proc.stop() };
}
