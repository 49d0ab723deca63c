// A Server-Sent Events stream of the service, as records, with nothing lost or repeated across reconnects.
//
// The browser's EventSource reconnects by itself after a dropped connection (a network blip, a service
// restart, a client the service dropped for falling behind) and sends the last id it saw as
// Last-Event-ID; the service then replays every stored event after it. So a record can only repeat if
// a stream is opened again by hand: `lastId` carries over into the new stream's `last_event_id`, and a
// record whose id is older than one already seen is dropped. Batch events carry no id (they are not
// stored): they are never dropped, and none is replayed.

import { api } from "./api.js";

// EventSource hands a named event only to listeners of that name: every event class the service sends.
const EVENT_NAMES = [
  "JobStatusChanged",
  "TrainBegin", "TrainEnd", "EpochBegin", "EpochEnd", "TrainBatchBegin", "TrainBatchEnd",
  "TestBegin", "TestEnd", "TestBatchBegin", "TestBatchEnd",
  "PredictBegin", "PredictEnd", "PredictBatchBegin", "PredictBatchEnd",
  "message",
];

const RETRY_MS = 2000;

export class Feed {
  /**
   * Follow `path` (an SSE endpoint); `onRecord(record, id)` gets each record once, in order.
   * `lastId`: resume after that stored event. `finished()`: whether there is nothing more to wait for
   * (the job is over), so that when the service ends the stream the feed closes instead of reconnecting.
   * `onReconnect()`: the stream is back after a drop (the service may have restarted meanwhile).
   */
  constructor(path, onRecord, { lastId = null, finished = () => false, onReconnect = () => {} } = {}) {
    this.path = path;
    this.onRecord = onRecord;
    this.lastId = lastId;
    this.finished = finished;
    this.onReconnect = onReconnect;
    this.dropped = false;
    this.source = null;
    this.stopped = true;
  }

  open() {
    this.detach();
    this.stopped = false;
    const url = new URL(this.path, location.href);
    if (this.lastId !== null) url.searchParams.set("last_event_id", String(this.lastId));
    const source = new EventSource(url);
    const receive = (message) => this.receive(message);
    for (const name of EVENT_NAMES) source.addEventListener(name, receive);
    source.addEventListener("error", () => this.failed(source));
    source.addEventListener("open", () => {
      if (!this.dropped) return;
      this.dropped = false;
      this.onReconnect();
    });
    this.source = source;
    return this;
  }

  /** Stop following: no reconnect, no retry. */
  close() {
    this.stopped = true;
    this.detach();
  }

  detach() {
    this.source?.close();
    this.source = null;
  }

  receive(message) {
    // lastEventId is the id of this event, or of the last one that had an id (spec: the buffer persists).
    const id = message.lastEventId === "" ? null : Number(message.lastEventId);
    if (id !== null && this.lastId !== null && id < this.lastId) return;
    if (id !== null) this.lastId = id;
    let record;
    try {
      record = JSON.parse(message.data);
    } catch {
      return; // not one of the service's records
    }
    this.onRecord(record, id);
  }

  failed(source) {
    if (source !== this.source) return;
    if (source.readyState === EventSource.CONNECTING) {
      // The stream ended or dropped; EventSource is about to reconnect with Last-Event-ID.
      if (this.finished()) this.close();
      else this.dropped = true;
      return;
    }
    // CLOSED: the service answered with an error status, which EventSource does not retry: a 401 after
    // the session went, most likely. Ask a small authenticated endpoint: on a 401 the login form comes
    // up (and the page reloads after login); otherwise try again shortly, from the last id seen.
    this.detach();
    this.dropped = true;
    api("GET", "/templates").then(
      () => setTimeout(() => this.stopped || this.finished() || this.open(), RETRY_MS),
      () => {},
    );
  }
}
