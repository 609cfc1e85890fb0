/**
 * Shapes of what DeviceTwin reads and writes: MQTT payloads (KubeEdge's dttype, edge/pkg/devicetwin/
 * dttype/types.go and types_helper.go), the cloud's Device/DeviceModel and membership content, and
 * edgefleet's device profile. Incoming shapes are zod schemas; outgoing ones are built here.
 */
import { z } from "zod";

/** KubeEdge's ValidateTwinKey: 1–128 of letters, digits and `-_.,:/@#`. */
export const TWIN_KEY = /^[a-zA-Z0-9\-_.,:/@#]{1,128}$/;
/** KubeEdge caps a twin value at 512 bytes; we keep the cap but allow any characters. */
export const MAX_TWIN_VALUE = 512;

const EventId = z.string().max(256);
const Timestamp = z.number();

const TwinValueIn = z
  .object({
    value: z.string().max(MAX_TWIN_VALUE),
    metadata: z
      .object({ timestamp: z.union([z.number(), z.string()]).optional() })
      .passthrough()
      .nullish(),
  })
  .passthrough();

const MsgTwinIn = z
  .object({
    expected: TwinValueIn.nullish(),
    actual: TwinValueIn.nullish(),
    optional: z.boolean().optional(),
    metadata: z
      .object({ type: z.string().max(32).optional() })
      .passthrough()
      .nullish(),
  })
  .passthrough()
  .refine((t) => t.actual != null || t.expected != null, "carries neither actual nor expected");

/** `twin/update` from a mapper: `{event_id, timestamp, twin: {<property>: MsgTwin}}`. */
export const TwinUpdatePayload = z
  .object({
    event_id: EventId.optional(),
    timestamp: Timestamp.optional(),
    twin: z.record(z.string().regex(TWIN_KEY, "is not a valid twin name"), MsgTwinIn),
  })
  .passthrough();
export type TwinUpdatePayload = z.infer<typeof TwinUpdatePayload>;

/** `twin/get` and `membership/get`: KubeEdge's BaseMessage. */
export const GetPayload = z
  .object({ event_id: EventId.optional(), timestamp: Timestamp.optional() })
  .passthrough();

/** `state/update` from a mapper: KubeEdge's DeviceUpdate `{event_id, timestamp, state}`. */
export const StateUpdatePayload = z
  .object({ event_id: EventId.optional(), timestamp: Timestamp.optional(), state: z.string().max(64) })
  .passthrough();

/** Device states devicetwin accepts (case-insensitive), edge/pkg/devicetwin/dtcommon/common.go. */
export const DEVICE_STATES: ReadonlySet<string> = new Set([
  "online",
  "offline",
  "ok",
  "unknown",
  "unhealthy",
]);
/** States after which KubeEdge stamps lastOnlineTime. */
export const ONLINE_STATES: ReadonlySet<string> = new Set(["online", "ok"]);

const MemberDevice = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    description: z.string().optional(),
  })
  .passthrough();

/** The cloud's MembershipUpdate (resource `membership`, group `twin`). */
export const MembershipUpdate = z
  .object({
    event_id: EventId.optional(),
    timestamp: Timestamp.optional(),
    added_devices: z.array(MemberDevice).nullish(),
    removed_devices: z.array(MemberDevice).nullish(),
  })
  .passthrough();
export type MemberDevice = z.infer<typeof MemberDevice>;

/** KubeEdge's MembershipDetail (`membership/detail`): the full device list of the node. */
export const MembershipDetail = z
  .object({ event_id: EventId.optional(), devices: z.array(MemberDevice).nullish() })
  .passthrough();

const ConfigData = z.record(z.unknown());
const Visitors = z
  .object({ protocolName: z.string().optional(), configData: ConfigData.nullish() })
  .passthrough();

const ObjectMeta = z
  .object({
    name: z.string().min(1),
    namespace: z.string().min(1),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string()).nullish(),
  })
  .passthrough();

/** A v1beta1 Device as the cloud sends it (status stripped); a delete may carry only metadata. */
export const DeviceObject = z
  .object({
    metadata: ObjectMeta,
    spec: z
      .object({
        deviceModelRef: z.object({ name: z.string() }).passthrough().nullish(),
        nodeName: z.string().optional(),
        protocol: z
          .object({ protocolName: z.string().optional(), configData: ConfigData.nullish() })
          .passthrough()
          .nullish(),
        properties: z
          .array(
            z
              .object({
                name: z.string().regex(TWIN_KEY, "is not a valid twin name"),
                desired: z
                  .object({
                    value: z.string().max(MAX_TWIN_VALUE).optional(),
                    metadata: z.record(z.string()).nullish(),
                  })
                  .passthrough()
                  .nullish(),
                visitors: Visitors.nullish(),
                reportCycle: z.number().optional(),
                collectCycle: z.number().optional(),
                reportToCloud: z.boolean().optional(),
              })
              .passthrough(),
          )
          .nullish(),
        stateReport: z
          .object({ reportToCloud: z.boolean().optional(), reportCycle: z.number().optional() })
          .passthrough()
          .nullish(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type DeviceObject = z.infer<typeof DeviceObject>;

/** A v1beta1 DeviceModel; its visitors and protocolConfigData are defaults for its devices. */
export const DeviceModelObject = z
  .object({
    metadata: ObjectMeta,
    spec: z
      .object({
        protocol: z.string().optional(),
        protocolConfigData: ConfigData.nullish(),
        properties: z
          .array(
            z
              .object({
                name: z.string(),
                type: z.string().optional(),
                accessMode: z.string().optional(),
                visitors: Visitors.nullish(),
              })
              .passthrough(),
          )
          .nullish(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type DeviceModelObject = z.infer<typeof DeviceModelObject>;

/** Version of the profile format below; a mapper ignores profiles of a version it does not know. */
export const PROFILE_FORMAT = 1;

/**
 * edgefleet's device profile, published retained per device for mappers: the Device with its
 * DeviceModel's defaults merged in (as KubeEdge's DMI cache does before RegisterDevice), so a
 * mapper needs nothing else to reach the device.
 */
export const DeviceProfile = z.object({
  format: z.literal(PROFILE_FORMAT),
  id: z.string(),
  namespace: z.string(),
  name: z.string(),
  model: z.string().optional(),
  protocol: z.object({ protocolName: z.string(), configData: ConfigData }),
  properties: z.array(
    z.object({
      name: z.string(),
      /** The model's type (INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES, STREAM); "" if unknown. */
      type: z.string(),
      accessMode: z.enum(["ReadWrite", "ReadOnly"]),
      collectCycle: z.number().optional(),
      reportCycle: z.number().optional(),
      reportToCloud: z.boolean(),
      visitors: z.object({ protocolName: z.string().optional(), configData: ConfigData }),
    }),
  ),
  stateReport: z
    .object({ reportToCloud: z.boolean().optional(), reportCycle: z.number().optional() })
    .optional(),
});
export type DeviceProfile = z.infer<typeof DeviceProfile>;

// ---- outgoing ----

export interface TwinValueJson {
  readonly value: string;
  readonly metadata?: { readonly timestamp: number };
}

/** KubeEdge's MsgTwin without versions, as results, deltas and documents carry it. */
export interface MsgTwinJson {
  readonly expected?: TwinValueJson;
  readonly actual?: TwinValueJson;
  readonly metadata?: { readonly type: string };
}

interface Base {
  readonly event_id: string;
  readonly timestamp: number;
}

/** KubeEdge's Result: an error answer on a `.../result` topic. */
export const errorResult = (eventId: string, code: number, reason: string, now: number): object => ({
  event_id: eventId,
  timestamp: now,
  code,
  reason,
});

export interface TwinResult extends Base {
  readonly twin: Readonly<Record<string, MsgTwinJson>>;
}

export interface TwinDelta extends TwinResult {
  /** property → the desired value the device does not have yet. */
  readonly delta: Readonly<Record<string, string>>;
}

export interface TwinDocument extends Base {
  readonly twin: Readonly<
    Record<string, { readonly last: MsgTwinJson | null; readonly current: MsgTwinJson | null }>
  >;
}

/** `membership/get/result` and `membership/updated` entries (KubeEdge's Device, no twins). */
export interface MemberJson {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly state?: string;
  readonly last_online?: string;
}

/** KubeEdge's DeviceMsg: `state/update/result` and, as a JSON string, the cloud report. */
export interface StateReport extends Base {
  readonly device: { readonly name: string; readonly state: string; readonly lastOnlineTime?: string };
}

/** The first issue of a zod error as `path: message`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The event_id of a payload that failed validation, if it has a usable one (to answer with). */
export function eventIdOf(raw: unknown): string {
  if (typeof raw === "object" && raw !== null) {
    const id = (raw as { event_id?: unknown }).event_id;
    if (typeof id === "string" && id.length <= 256) return id;
  }
  return "";
}
