import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

export interface KubeconfigSpec {
  readonly server: string;
  readonly caPem: string;
  readonly user: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Writes a kubeconfig with one cluster, one client-certificate user and one context. */
export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  const b64 = (pem: string): string => Buffer.from(pem).toString("base64");
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "edgefleet", cluster: { server: spec.server, "certificate-authority-data": b64(spec.caPem) } },
    ],
    users: [
      {
        name: spec.user,
        user: { "client-certificate-data": b64(spec.certPem), "client-key-data": b64(spec.keyPem) },
      },
    ],
    contexts: [{ name: spec.user, context: { cluster: "edgefleet", user: spec.user } }],
    "current-context": spec.user,
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
}
