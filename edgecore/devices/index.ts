/** The edge's device components: DeviceTwin, its MQTT bus and the Modbus mapper. */
export { DeviceTwin, type CloudObjectChange, type DeviceTwinStats } from "./device-twin.js";
export { DEVICE_TWIN_DEFAULTS, parseDeviceTwinOptions, type DeviceTwinOptions } from "./options.js";
export {
  MqttEventBus,
  EVENT_BUS_DEFAULTS,
  type BusStatus,
  type DeviceBus,
  type EventBusOptions,
} from "./event-bus.js";
export {
  DeviceBusClosedError,
  DeviceOptionError,
  DevicePayloadError,
  InvalidDeviceObjectError,
  ModbusConfigError,
  ModbusRequestError,
  ModbusValueError,
} from "./errors.js";
export type { DeviceRecord } from "./twin-store.js";
export type { TwinRecord } from "./twin-logic.js";
export { DeviceProfile, PROFILE_FORMAT } from "./payloads.js";
export { deviceTopic, nodeTopic, profileTopic, TwinSuffix, MembershipSuffix } from "./topics.js";
export { ModbusMapper, MODBUS_MAPPER_DEFAULTS, type ModbusMapperOptions } from "./mappers/modbus-mapper.js";
