import type { ObjectMeta } from "../kube/objects.js";

/** A Device, as far as validation and the controller read it (devices.kubeedge.io/v1beta1). */
export interface DeviceJson {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    deviceModelRef?: { name?: string };
    nodeName?: string;
    protocol?: { protocolName?: string; configData?: unknown };
    properties?: DevicePropertyJson[];
    [field: string]: unknown;
  };
  status?: unknown;
  [field: string]: unknown;
}

export interface DevicePropertyJson {
  name?: string;
  desired?: { value?: string; metadata?: Record<string, string> };
  reportCycle?: number;
  collectCycle?: number;
  reportToCloud?: boolean;
  [field: string]: unknown;
}

export interface ModelPropertyJson {
  name?: string;
  type?: string;
  accessMode?: string;
  minimum?: string;
  maximum?: string;
  unit?: string;
  [field: string]: unknown;
}

export interface DeviceModelJson {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: { protocol?: string; properties?: ModelPropertyJson[]; [field: string]: unknown };
  [field: string]: unknown;
}

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * What is wrong with a Device given its DeviceModel: each problem as a sentence naming the property.
 * Empty when valid. Checks a CRD's CEL rules cannot, since they need the other object: the model
 * exists, every property is one of the model's, a desired value parses as the property's type and
 * lies within its minimum and maximum, and no desired value is set on a ReadOnly property.
 */
export function deviceProblems(device: DeviceJson, model: DeviceModelJson | undefined): string[] {
  const modelName = device.spec?.deviceModelRef?.name ?? "";
  if (!model) return [`device model ${JSON.stringify(modelName)} does not exist in this namespace`];
  const problems: string[] = [];
  const byName = new Map((model.spec?.properties ?? []).map((p) => [p.name ?? "", p]));
  for (const property of device.spec?.properties ?? []) {
    const name = property.name ?? "";
    const spec = byName.get(name);
    if (!spec) {
      problems.push(`property ${name}: not defined by device model ${modelName}`);
      continue;
    }
    const value = property.desired?.value;
    if (value === undefined) continue;
    if (spec.accessMode === "ReadOnly") {
      problems.push(`property ${name}: ReadOnly in model ${modelName}, so it cannot have a desired value`);
      continue;
    }
    const typeProblem = valueTypeProblem(spec.type ?? "STRING", value);
    if (typeProblem) {
      problems.push(`property ${name}: desired value ${JSON.stringify(value)} ${typeProblem}`);
      continue;
    }
    if (spec.type === "INT" || spec.type === "FLOAT" || spec.type === "DOUBLE") {
      const n = Number(value);
      if (spec.minimum !== undefined && NUMBER.test(spec.minimum) && n < Number(spec.minimum))
        problems.push(`property ${name}: desired value ${value} is below the minimum ${spec.minimum}`);
      if (spec.maximum !== undefined && NUMBER.test(spec.maximum) && n > Number(spec.maximum))
        problems.push(`property ${name}: desired value ${value} is above the maximum ${spec.maximum}`);
    }
  }
  return problems;
}

function valueTypeProblem(type: string, value: string): string | undefined {
  switch (type) {
    case "INT":
      return INTEGER.test(value) && Number.isSafeInteger(Number(value)) ? undefined : "is not an INT";
    case "FLOAT":
    case "DOUBLE":
      return NUMBER.test(value) && Number.isFinite(Number(value)) ? undefined : `is not a ${type}`;
    case "BOOLEAN":
      return value === "true" || value === "false" ? undefined : "is not a BOOLEAN (true or false)";
    default:
      return undefined;
  }
}
