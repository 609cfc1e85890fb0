/** ConfigMap and Secret data as the node holds them (MetaManager's store). */
export interface ObjectSource {
  /** `data` of ConfigMap <ns>/<name> (binaryData decoded), or undefined when the node lacks it. */
  configMap(namespace: string, name: string): Record<string, Buffer> | undefined;
  /** `data` of Secret <ns>/<name>, base64-decoded, or undefined. */
  secret(namespace: string, name: string): Record<string, Buffer> | undefined;
}

/**
 * A reference a container needs cannot be satisfied (the kubelet's CreateContainerConfigError):
 * the pod waits, and the reason shows in its status.
 */
export class ContainerConfigError extends Error {
  override readonly name: string = "ContainerConfigError";
  /** The waiting reason the container shows. */
  readonly reason: string = "CreateContainerConfigError";
}

/** A container cannot start for a reason its status shows as `waiting.reason` (ErrImagePull…). */
export class ContainerWaitingError extends ContainerConfigError {
  override readonly name = "ContainerWaitingError";
  constructor(
    override readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
