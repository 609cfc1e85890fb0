/**
 * KubeEdge's device CRDs (devices.kubeedge.io/v1beta1): Device, DeviceModel and DeviceStatus, with
 * the field names of KubeEdge's API so KubeEdge manifests apply unchanged. KubeEdge's own CRDs have
 * only two enums; ours add CEL rules for what one object can check about itself (numeric bounds of
 * numeric properties, min ≤ max, unique property names, cycles > 0, known protocols). Checks that
 * need two objects (a Device's desired value against its model's type and range) are done by the
 * validating webhook (validation-webhook.ts).
 */

import type { KubeObject } from "../kube/objects.js";

export const DEVICE_GROUP = "devices.kubeedge.io";
export const DEVICE_VERSION = "v1beta1";

/** Protocols a Device may name unless configured otherwise (KubeEdge's mapper set). */
export const DEFAULT_DEVICE_PROTOCOLS = [
  "modbus",
  "opcua",
  "bluetooth",
  "onvif",
  "mqtt",
  "virtualProtocol",
] as const;

const NUMERIC = "^-?[0-9]+(\\\\.[0-9]+)?$";
const INTEGER = "^-?[0-9]+$";

type Schema = Record<string, unknown>;
type CrdObject = KubeObject;

const str: Schema = { type: "string" };
const preserve: Schema = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
const cycle: Schema = { type: "integer", format: "int64", minimum: 1, description: "milliseconds" };
const visitors: Schema = { type: "object", properties: { protocolName: str, configData: preserve } };

function crd(
  kind: string,
  plural: string,
  spec: Schema,
  status: Schema,
  printerColumns: Schema[] = [],
): Schema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${plural}.${DEVICE_GROUP}`,
      labels: { "app.kubernetes.io/managed-by": "edgefleet-cloudcore" },
    },
    spec: {
      group: DEVICE_GROUP,
      scope: "Namespaced",
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [
        {
          name: DEVICE_VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: { apiVersion: str, kind: str, metadata: { type: "object" }, spec, status },
            },
          },
        },
      ],
    },
  };
}

export function deviceModelCrd(): CrdObject {
  const property: Schema = {
    type: "object",
    required: ["name", "type"],
    properties: {
      name: { type: "string", minLength: 1, maxLength: 128 },
      description: str,
      type: { type: "string", enum: ["INT", "FLOAT", "DOUBLE", "STRING", "BOOLEAN", "BYTES", "STREAM"] },
      accessMode: { type: "string", enum: ["ReadWrite", "ReadOnly"] },
      minimum: { type: "string", maxLength: 64 },
      maximum: { type: "string", maxLength: 64 },
      unit: str,
      visitors,
    },
    "x-kubernetes-validations": [
      {
        rule: `!has(self.minimum) || self.type != 'INT' || self.minimum.matches('${INTEGER}')`,
        messageExpression: "'property ' + self.name + ': minimum ' + self.minimum + ' is not an integer'",
      },
      {
        rule: `!has(self.maximum) || self.type != 'INT' || self.maximum.matches('${INTEGER}')`,
        messageExpression: "'property ' + self.name + ': maximum ' + self.maximum + ' is not an integer'",
      },
      {
        rule: `!has(self.minimum) || !(self.type in ['FLOAT', 'DOUBLE']) || self.minimum.matches('${NUMERIC}')`,
        messageExpression: "'property ' + self.name + ': minimum ' + self.minimum + ' is not a number'",
      },
      {
        rule: `!has(self.maximum) || !(self.type in ['FLOAT', 'DOUBLE']) || self.maximum.matches('${NUMERIC}')`,
        messageExpression: "'property ' + self.name + ': maximum ' + self.maximum + ' is not a number'",
      },
      {
        rule: `(!has(self.minimum) && !has(self.maximum)) || self.type in ['INT', 'FLOAT', 'DOUBLE']`,
        messageExpression:
          "'property ' + self.name + ': minimum/maximum apply only to INT, FLOAT and DOUBLE'",
      },
      {
        rule:
          `!has(self.minimum) || !has(self.maximum) || !self.minimum.matches('${NUMERIC}') || ` +
          `!self.maximum.matches('${NUMERIC}') || double(self.minimum) <= double(self.maximum)`,
        messageExpression:
          "'property ' + self.name + ': minimum ' + self.minimum + ' is greater than maximum ' + self.maximum",
      },
    ],
  };
  return crd(
    "DeviceModel",
    "devicemodels",
    {
      type: "object",
      properties: {
        protocol: str,
        protocolConfigData: preserve,
        properties: {
          type: "array",
          maxItems: 128,
          items: property,
          "x-kubernetes-validations": [
            {
              rule: "self.all(p, self.exists_one(q, q.name == p.name))",
              message: "property names must be unique",
            },
          ],
        },
      },
    },
    preserve,
  );
}

export function deviceCrd(protocols: readonly string[] = DEFAULT_DEVICE_PROTOCOLS): CrdObject {
  const known = `[${protocols.map((p) => `'${p.replace(/'/g, "")}'`).join(", ")}]`;
  const property: Schema = {
    type: "object",
    required: ["name"],
    properties: {
      name: { type: "string", minLength: 1, maxLength: 128 },
      desired: {
        type: "object",
        required: ["value"],
        properties: { value: str, metadata: { type: "object", additionalProperties: str } },
      },
      visitors,
      reportCycle: cycle,
      collectCycle: cycle,
      reportToCloud: { type: "boolean" },
      pushMethod: preserve,
    },
  };
  return crd(
    "Device",
    "devices",
    {
      type: "object",
      required: ["deviceModelRef", "protocol"],
      properties: {
        deviceModelRef: {
          type: "object",
          required: ["name"],
          properties: { name: { type: "string", minLength: 1 } },
        },
        nodeName: str,
        protocol: {
          type: "object",
          required: ["protocolName"],
          properties: { protocolName: str, configData: preserve },
          "x-kubernetes-validations": [
            {
              rule: `self.protocolName in ${known}`,
              messageExpression: `'unknown protocol ' + self.protocolName + '; known protocols: ${protocols.join(", ")}'`,
            },
          ],
        },
        properties: {
          type: "array",
          maxItems: 128,
          items: property,
          "x-kubernetes-validations": [
            {
              rule: "self.all(p, self.exists_one(q, q.name == p.name))",
              message: "property names must be unique",
            },
          ],
        },
        methods: { type: "array", items: preserve },
        stateReport: {
          type: "object",
          properties: { reportToCloud: { type: "boolean" }, reportCycle: cycle },
        },
      },
    },
    preserve,
    [
      { name: "Node", type: "string", jsonPath: ".spec.nodeName" },
      { name: "Model", type: "string", jsonPath: ".spec.deviceModelRef.name" },
      { name: "Protocol", type: "string", jsonPath: ".spec.protocol.protocolName" },
    ],
  );
}

export function deviceStatusCrd(): CrdObject {
  const twinValue: Schema = {
    type: "object",
    required: ["value"],
    properties: { value: str, metadata: { type: "object", additionalProperties: str } },
  };
  return crd(
    "DeviceStatus",
    "devicestatuses",
    { type: "object" },
    {
      type: "object",
      properties: {
        twins: {
          type: "array",
          items: {
            type: "object",
            properties: { propertyName: str, reported: twinValue, observedDesired: twinValue },
          },
        },
        state: str,
        lastOnlineTime: str,
        extensions: preserve,
      },
    },
  );
}

/** The three device CRDs cloudcore installs (and the Helm chart ships, with the default protocols). */
export function deviceCrds(protocols: readonly string[] = DEFAULT_DEVICE_PROTOCOLS): CrdObject[] {
  return [deviceModelCrd(), deviceCrd(protocols), deviceStatusCrd()];
}
