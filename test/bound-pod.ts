/** A pod created already bound to `node` (no scheduler), busybox, no service account token. */
export function boundPod(name: string, node: string, spec: Record<string, unknown> = {}): unknown {
  return {
    metadata: { name },
    spec: {
      nodeName: node,
      automountServiceAccountToken: false,
      containers: [{ name: "c", image: "docker.io/edgefleet/busybox:1.35" }],
      ...spec,
    },
  };
}
