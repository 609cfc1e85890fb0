import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { describe, expect, inject, it } from "vitest";

const env = inject("env");

describe("mosquitto", () => {
  it("publish/subscribe - a message published by one client reaches another", async () => {
    if (!env.mosquitto) throw new Error("environment started without mosquitto");
    // KubeEdge's device topics start with $hw; use one so the broker's handling of '$' topics is covered.
    const topic = `$hw/events/device/env-test-${randomBytes(3).toString("hex")}/twin/update`;
    const subscriber = await mqtt.connectAsync(env.mosquitto.url, { reconnectPeriod: 0 });
    const publisher = await mqtt.connectAsync(env.mosquitto.url, { reconnectPeriod: 0 });
    try {
      const received = new Promise<{ topic: string; payload: string }>((resolve) => {
        subscriber.on("message", (t, payload) => resolve({ topic: t, payload: payload.toString("utf8") }));
      });
      await subscriber.subscribeAsync(topic, { qos: 1 });
      await publisher.publishAsync(
        topic,
        JSON.stringify({ twin: { temperature: { expected: { value: "21" } } } }),
        {
          qos: 1,
        },
      );
      const message = await received;
      expect(message.topic).toBe(topic);
      expect(JSON.parse(message.payload)).toEqual({ twin: { temperature: { expected: { value: "21" } } } });
    } finally {
      await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
    }
  });
});
