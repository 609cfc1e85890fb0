/** A Kubernetes quantity that does not parse; `field` names where it came from. */
export class QuantityError extends Error {
  override readonly name = "QuantityError";
}

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * Parses a resource quantity ("500m", "1.5", "128Mi", "1G", "2e3") into its value in base units
 * (cores, bytes).
 */
export function parseQuantity(quantity: string | number, field = "quantity"): number {
  if (typeof quantity === "number") return quantity;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(
    quantity.trim(),
  );
  if (!m) throw new QuantityError(`${field}: "${quantity}" is not a quantity`);
  const number = Number(m[1]);
  if (m[2]) return number * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? "";
  return number * (BINARY[suffix] ?? DECIMAL[suffix] ?? 1);
}

/** CFS period the kubelet uses, in microseconds. */
export const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;

export interface LinuxResources {
  readonly cpuPeriod: number;
  readonly cpuQuota: number;
  readonly cpuShares: number;
  readonly memoryLimitInBytes: number;
}

/**
 * A container's limits and requests as the kubelet turns them into cgroup settings: CPU limit →
 * CFS quota over a 100 ms period, CPU request → shares (1024 per core, at least 2), memory limit →
 * bytes. 0 means unlimited.
 */
export function linuxResources(
  resources: {
    limits?: Record<string, string | number> | undefined;
    requests?: Record<string, string | number> | undefined;
  } = {},
  field = "resources",
): LinuxResources {
  const cpuLimit = resources.limits?.["cpu"];
  const cpuRequest = resources.requests?.["cpu"] ?? cpuLimit;
  const memoryLimit = resources.limits?.["memory"];
  const quota =
    cpuLimit === undefined
      ? 0
      : Math.max(1000, Math.ceil(parseQuantity(cpuLimit, `${field}.limits.cpu`) * CPU_PERIOD_US));
  const shares =
    cpuRequest === undefined
      ? MIN_SHARES
      : Math.max(MIN_SHARES, Math.round(parseQuantity(cpuRequest, `${field}.requests.cpu`) * 1024));
  return {
    cpuPeriod: quota === 0 ? 0 : CPU_PERIOD_US,
    cpuQuota: quota,
    cpuShares: shares,
    memoryLimitInBytes:
      memoryLimit === undefined ? 0 : Math.round(parseQuantity(memoryLimit, `${field}.limits.memory`)),
  };
}
