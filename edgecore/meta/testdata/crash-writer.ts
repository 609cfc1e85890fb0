/**
 * Child process for the power-cut test: applies cloud pod updates through MetaManager as fast as
 * it can and prints each ack (`<resource> <resourceVersion>`) the moment it is sent, until killed.
 */
import { pino } from "pino";
import { Group, Operation, Source } from "../../../protocol/constants.js";
import { newMessage } from "../../../protocol/message.js";
import { createEdgecoreMetrics } from "../../metrics.js";
import { openEdgeDatabase } from "../database.js";
import { MetaManager } from "../meta-manager.js";
import { MetaStore } from "../meta-store.js";

const [file = "", startArg = "1"] = process.argv.slice(2);
const store = new MetaStore(openEdgeDatabase(file));
const meta = new MetaManager(
  store,
  {
    send: (ack) => {
      // Pipes are written synchronously on Linux: a line printed here was acked before any kill.
      process.stdout.write(`${ack.route.resource} ${String(ack.header.parent_msg_id).split(":")[1]}\n`);
      return true;
    },
  },
  createEdgecoreMetrics(),
  pino({ level: "silent" }),
);
const filler = "x".repeat(20_000);
for (let rv = Number(startArg); ; rv++) {
  const name = `pod-${rv % 50}`;
  const data = { rv, filler };
  meta.handle(
    newMessage({
      id: `msg:${rv}`,
      source: Source.EdgeController,
      group: Group.Resource,
      operation: Operation.Update,
      resource: `default/pod/${name}`,
      resourceVersion: String(rv),
      content: {
        metadata: { name, namespace: "default", uid: `uid-${name}`, resourceVersion: String(rv) },
        spec: data,
        // The same value twice: a torn write would show them differing.
        status: { copy: rv },
      },
    }),
  );
}
