import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority, generateKeyPair, privateKeyPem, publicKeyPem } from "../../protocol/pki.js";

/** File paths of every certificate and key the control plane uses. */
export interface ControlPlanePki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly apiserverCert: string;
  readonly apiserverKey: string;
  /** Client certificate the apiserver presents to kubelets (and later to cloudcore's stream server). */
  readonly kubeletClientCert: string;
  readonly kubeletClientKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly schedulerCert: string;
  readonly schedulerKey: string;
  readonly controllerManagerCert: string;
  readonly controllerManagerKey: string;
  /** Serving certificate for scheduler and controller-manager health endpoints. */
  readonly componentServingCert: string;
  readonly componentServingKey: string;
  /**
   * edgefleet's cloud CA (KubeEdge's `casecret`), made here like an operator would before install,
   * because the apiserver must trust it from its start: it signs cloudcore's stream serving
   * certificate, and `--kubelet-certificate-authority` names it. Seeded into the cluster by
   * cluster-bootstrap.ts; cloudcore loads it instead of creating its own.
   */
  readonly cloudCaCert: string;
  readonly cloudCaKey: string;
}

/** The in-cluster service IP of the `kubernetes` Service; allocated only, never dialled by tests. */
export const SERVICE_CIDR = "10.96.0.0/16";
const KUBERNETES_SERVICE_IP = "10.96.0.1";

/** Generates a fresh CA and every certificate the local control plane needs, under `dir`. */
export async function createControlPlanePki(dir: string): Promise<ControlPlanePki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await CertificateAuthority.create("edgefleet-test-ca");
  const write = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const pair = async (
    base: string,
    request: Parameters<CertificateAuthority["issue"]>[0],
  ): Promise<readonly [string, string]> => {
    const issued = await ca.issue(request);
    return [write(`${base}.crt`, issued.certPem), write(`${base}.key`, issued.keyPem)];
  };

  const [apiserverCert, apiserverKey] = await pair("apiserver", {
    subject: "CN=kube-apiserver",
    usage: "server",
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    ipAddresses: ["127.0.0.1", KUBERNETES_SERVICE_IP],
  });
  const [kubeletClientCert, kubeletClientKey] = await pair("apiserver-kubelet-client", {
    subject: "CN=kube-apiserver-kubelet-client, O=kubeadm:cluster-admins",
    usage: "client",
  });
  const [adminCert, adminKey] = await pair("admin", {
    subject: "CN=edgefleet-admin, O=system:masters",
    usage: "client",
  });
  const [schedulerCert, schedulerKey] = await pair("kube-scheduler", {
    subject: "CN=system:kube-scheduler",
    usage: "client",
  });
  const [controllerManagerCert, controllerManagerKey] = await pair("kube-controller-manager", {
    subject: "CN=system:kube-controller-manager",
    usage: "client",
  });
  const [componentServingCert, componentServingKey] = await pair("component-serving", {
    subject: "CN=localhost",
    usage: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
  });
  const sa = await generateKeyPair();
  const cloudCa = await CertificateAuthority.create("KubeEdge");
  return {
    dir,
    caCert: write("ca.crt", ca.certPem),
    caKey: write("ca.key", await ca.keyPem()),
    apiserverCert,
    apiserverKey,
    kubeletClientCert,
    kubeletClientKey,
    serviceAccountKey: write("sa.key", await privateKeyPem(sa.privateKey)),
    serviceAccountPub: write("sa.pub", await publicKeyPem(sa.publicKey)),
    adminCert,
    adminKey,
    schedulerCert,
    schedulerKey,
    controllerManagerCert,
    controllerManagerKey,
    componentServingCert,
    componentServingKey,
    cloudCaCert: write("cloud-ca.crt", cloudCa.certPem),
    cloudCaKey: write("cloud-ca.key", await cloudCa.keyPem()),
  };
}
