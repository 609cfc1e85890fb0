import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KUBERNETES_BIN_DIR, builtBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { SERVICE_CIDR, type ControlPlanePki } from "./control-plane-pki.js";
import { withOverrides } from "./flag-overrides.js";
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
  /**
   * Extra flags, for later components (e.g. the stream server's CA). A flag named here replaces
   * the default of the same name (list flags such as --authorization-mode would otherwise add up).
   */
  readonly extraArgs?: readonly string[];
  /**
   * Run inside this network namespace (`ip netns exec`), listening on `bindAddress` with a serving
   * certificate for it: tests where the apiserver's own connections meet NAT rules.
   */
  readonly netns?: {
    readonly name: string;
    readonly bindAddress: string;
    readonly cert: string;
    readonly key: string;
  };
}

/** Starts kube-apiserver with TLS, client-certificate authentication, Node+RBAC authorization. */
export async function startKubeApiserver(options: KubeApiserverOptions): Promise<KubeApiserver> {
  const { dir, pki } = options;
  const port = await freePort();
  const address = options.netns?.bindAddress ?? "127.0.0.1";
  const url = `https://${address}:${port}`;
  const binary = builtBinary(KUBERNETES_BIN_DIR, "kube-apiserver");
  const tls = {
    ca: readFileSync(pki.caCert, "utf8"),
    cert: readFileSync(pki.adminCert, "utf8"),
    key: readFileSync(pki.adminKey, "utf8"),
  };
  const defaultArgs = [
    `--etcd-servers=${options.etcdUrl}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${port}`,
    `--cert-dir=${join(dir, "certs")}`,
    `--tls-cert-file=${options.netns?.cert ?? pki.apiserverCert}`,
    `--tls-private-key-file=${options.netns?.key ?? pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--kubelet-client-certificate=${pki.kubeletClientCert}`,
    `--kubelet-client-key=${pki.kubeletClientKey}`,
    // cloudcore's stream server answers for edge nodes with a certificate of the cloud CA (there
    // are no real kubelets here; a mixed cluster names a bundle of both CAs).
    `--kubelet-certificate-authority=${pki.cloudCaCert}`,
    // Edge nodes report their name as Hostname, which does not resolve here: dial the InternalIP
    // (kubeadm's order; the apiserver's default tries Hostname first).
    "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
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
  ];
  const proc = new ManagedProcess({
    name: "kube-apiserver",
    command: options.netns ? "ip" : binary,
    args: [
      ...(options.netns ? ["netns", "exec", options.netns.name, binary] : []),
      ...withOverrides(defaultArgs, options.extraArgs ?? []),
    ],
    logFile: join(dir, "kube-apiserver.log"),
    ready: async () => (await httpGet(`${url}/readyz`, tls)).status === 200,
    readyTimeoutMs: 90_000,
    stopTimeoutMs: 15_000,
  });
  await proc.start();
  return {
    name: "kube-apiserver",
    logFile: proc.spec.logFile,
    url,
    stop: () => proc.stop(),
    get running() {
      return proc.running;
    },
  };
}
