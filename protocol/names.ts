// Kubernetes node names are DNS-1123 subdomains: lowercase alphanumerics, '-' and '.', at most 253.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOST_PORT = /^(\[[^\]]+\]|[^:\s/]+):(\d{1,5})$/;

/** True when `name` is a valid Kubernetes node name. */
export function isNodeName(name: string): boolean {
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}

/** Splits `host:port` (`[v6]:port` too); undefined when it is not of that form. */
export function parseHostPort(address: string): { readonly host: string; readonly port: number } | undefined {
  const match = HOST_PORT.exec(address);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}
