/** The device components' errors (DeviceTwin, event bus, mappers). Callers branch on `code`. */
import { EdgecoreError } from "../errors.js";

/** An option given to DeviceTwin, the event bus or a mapper is invalid; `field` names it. */
export class DeviceOptionError extends EdgecoreError {
  override readonly name = "DeviceOptionError";
  override readonly code = "EF_ERR_DEVICE_OPTION";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A Device or DeviceModel from the cloud that DeviceTwin cannot use; nothing of it was applied. */
export class InvalidDeviceObjectError extends EdgecoreError {
  override readonly name = "InvalidDeviceObjectError";
  override readonly code = "EF_ERR_INVALID_DEVICE_OBJECT";
}

/**
 * An MQTT payload that is not what its topic carries. `status` is the KubeEdge result code the
 * sender is answered with (400 bad request, 404 unknown device).
 */
export class DevicePayloadError extends EdgecoreError {
  override readonly name = "DevicePayloadError";
  override readonly code = "EF_ERR_DEVICE_PAYLOAD";
  constructor(
    message: string,
    readonly status: 400 | 404 = 400,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The event bus (or a component owning one) was stopped. */
export class DeviceBusClosedError extends EdgecoreError {
  override readonly name = "DeviceBusClosedError";
  override readonly code = "EF_ERR_DEVICE_BUS_CLOSED";
}

/** A property's visitor or a device's protocol config cannot drive a Modbus register. */
export class ModbusConfigError extends EdgecoreError {
  override readonly name = "ModbusConfigError";
  override readonly code = "EF_ERR_MODBUS_CONFIG";
}

/** A value cannot be written to (or read from) a register as its visitor describes it. */
export class ModbusValueError extends EdgecoreError {
  override readonly name = "ModbusValueError";
  override readonly code = "EF_ERR_MODBUS_VALUE";
}

/** A Modbus request failed (connection refused, timeout, exception response). */
export class ModbusRequestError extends EdgecoreError {
  override readonly name = "ModbusRequestError";
  override readonly code = "EF_ERR_MODBUS_REQUEST";
}
