/**
 * Pure twin logic: desired values from a Device, the delta a mapper must apply, value checks,
 * the wire view of a twin and the device profile. No I/O here; DeviceTwin and the store use it.
 */
import type { DeviceModelObject, DeviceObject, DeviceProfile, MsgTwinJson } from "./payloads.js";
import { PROFILE_FORMAT } from "./payloads.js";
import { deviceIdOf } from "./topics.js";

/** One property of one device as the edge holds it. */
export interface TwinRecord {
  readonly deviceId: string;
  readonly property: string;
  /** KubeEdge's lower-case twin type (int, float, double, string, boolean, bytes, stream) or "". */
  readonly type: string;
  /** From the Device's spec.properties[].desired.value; null when it sets none. */
  readonly desired: string | null;
  readonly desiredAt: number | null;
  /** Bumped on every desired change (KubeEdge's expected_version, edge side). */
  readonly desiredVersion: number;
  /** The last value the mapper reported. */
  readonly reported: string | null;
  readonly reportedAt: number | null;
  /** Bumped on every reported change (KubeEdge's actual_version, edge side). */
  readonly reportedVersion: number;
  /** The desired value the mapper says it has applied (its `expected`); goes up as observedDesired. */
  readonly observedDesired: string | null;
  readonly observedDesiredAt: number | null;
}

export interface DesiredTwin {
  readonly property: string;
  readonly type: string;
  readonly desired: string | null;
}

const INTEGER = /^[-+]?\d{1,19}$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const NUMERIC_TYPES: ReadonlySet<string> = new Set(["int", "integer", "float", "double"]);

/** The model's property type (INT, FLOAT…) as KubeEdge's twin metadata type (int, float…). */
export const twinTypeOf = (modelType: string | undefined): string => (modelType ?? "").toLowerCase();

function modelProperty(
  model: DeviceModelObject | undefined,
  name: string,
): NonNullable<NonNullable<DeviceModelObject["spec"]>["properties"]>[number] | undefined {
  return (model?.spec?.properties ?? []).find((p) => p.name === name);
}

/**
 * The twins a Device declares: one per spec.properties[] entry, typed by its model, with the
 * desired value if the property sets one (an empty value counts as none, as in KubeEdge's delta).
 */
export function desiredTwins(device: DeviceObject, model: DeviceModelObject | undefined): DesiredTwin[] {
  return (device.spec?.properties ?? []).map((p) => ({
    property: p.name,
    type: twinTypeOf(modelProperty(model, p.name)?.type),
    desired: p.desired?.value ? p.desired.value : null,
  }));
}

/**
 * Why `value` is not a valid value of a twin of `type`, or undefined. As KubeEdge's ValidateValue
 * (dtcommon/util.go), except that `double` is accepted: KubeEdge's lacks that case and so refuses
 * every report of a DOUBLE property that names its type.
 */
export function valueProblem(type: string, value: string): string | undefined {
  switch (type) {
    case "":
    case "string":
    case "bytes":
    case "stream":
      return undefined;
    case "int":
    case "integer":
      return INTEGER.test(value) ? undefined : `${JSON.stringify(value)} is not an int`;
    case "float":
    case "double":
      return NUMBER.test(value) && Number.isFinite(Number(value))
        ? undefined
        : `${JSON.stringify(value)} is not a ${type}`;
    case "boolean":
      return value === "true" || value === "false"
        ? undefined
        : `${JSON.stringify(value)} is not true or false`;
    default:
      return `type ${JSON.stringify(type)} is not one of int, float, double, boolean, string, bytes, stream`;
  }
}

/**
 * Whether a reported value already is the desired one. KubeEdge compares strings; numbers are
 * compared as numbers here, so a device that reports "21.0" for a desired "21" gets no delta.
 */
export function sameValue(type: string, a: string, b: string): boolean {
  if (a === b) return true;
  if (NUMERIC_TYPES.has(type) && NUMBER.test(a) && NUMBER.test(b)) return Number(a) === Number(b);
  if (type === "boolean") return a.toLowerCase() === b.toLowerCase();
  return false;
}

/** property → desired value, for every twin whose device does not report its desired value yet. */
export function pendingDelta(twins: readonly TwinRecord[]): Record<string, string> {
  const delta: Record<string, string> = {};
  for (const t of twins) {
    if (t.desired === null) continue;
    if (t.reported === null || !sameValue(t.type, t.desired, t.reported)) delta[t.property] = t.desired;
  }
  return delta;
}

/** The wire view of a twin (KubeEdge's MsgTwin, versions stripped as in results and deltas). */
export function twinJson(t: TwinRecord): MsgTwinJson {
  return {
    ...(t.desired !== null && {
      expected: { value: t.desired, ...(t.desiredAt !== null && { metadata: { timestamp: t.desiredAt } }) },
    }),
    ...(t.reported !== null && {
      actual: { value: t.reported, ...(t.reportedAt !== null && { metadata: { timestamp: t.reportedAt } }) },
    }),
    metadata: { type: t.type || "string" },
  };
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? structuredClone(value as Record<string, unknown>)
    : {};

/**
 * The profile a mapper configures the device from: the Device's protocol and properties with the
 * model's visitors, protocolConfigData, type and accessMode as defaults that instance keys override
 * (KubeEdge's overrideDeviceInstanceConfig, edge/pkg/devicetwin/dmicache/dmicache.go). Undefined
 * for a Device without a spec (a delete stub).
 */
export function buildProfile(
  device: DeviceObject,
  model: DeviceModelObject | undefined,
): DeviceProfile | undefined {
  const spec = device.spec;
  if (!spec) return undefined;
  const { namespace, name } = device.metadata;
  const protocolName = spec.protocol?.protocolName ?? model?.spec?.protocol ?? "";
  return {
    format: PROFILE_FORMAT,
    id: deviceIdOf(namespace, name),
    namespace,
    name,
    ...(spec.deviceModelRef?.name !== undefined && { model: spec.deviceModelRef.name }),
    protocol: {
      protocolName,
      configData: { ...record(model?.spec?.protocolConfigData), ...record(spec.protocol?.configData) },
    },
    properties: (spec.properties ?? []).map((p) => {
      const fromModel = modelProperty(model, p.name);
      const visitorProtocol = p.visitors?.protocolName ?? fromModel?.visitors?.protocolName;
      return {
        name: p.name,
        type: fromModel?.type ?? "",
        accessMode: fromModel?.accessMode === "ReadOnly" ? "ReadOnly" : "ReadWrite",
        ...(p.collectCycle !== undefined && { collectCycle: p.collectCycle }),
        ...(p.reportCycle !== undefined && { reportCycle: p.reportCycle }),
        reportToCloud: p.reportToCloud ?? false,
        visitors: {
          ...(visitorProtocol !== undefined && { protocolName: visitorProtocol }),
          configData: { ...record(fromModel?.visitors?.configData), ...record(p.visitors?.configData) },
        },
      };
    }),
    ...(spec.stateReport && {
      stateReport: {
        ...(spec.stateReport.reportToCloud !== undefined && {
          reportToCloud: spec.stateReport.reportToCloud,
        }),
        ...(spec.stateReport.reportCycle !== undefined && { reportCycle: spec.stateReport.reportCycle }),
      },
    }),
  };
}
