// The durable outbox: every request is written here before it is sent and deleted only
// when the server has answered its id. Ids and sequence numbers never change, so a
// replay after a reconnect, a reload or a killed tab is applied once by the server.

const DB_NAME = "caddie-shop";
const STORE = "outbox";

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("outbox transaction aborted"));
  });
}

export class Outbox {
  static async open() {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: "id" });
      store.createIndex("seq", "seq", { unique: true });
    };
    return new Outbox(await promised(request));
  }

  constructor(db) {
    this.db = db;
  }

  /** Stores one request (`{type, ...fields}`); resolves with the stored entry once durable. */
  async add(message) {
    const tx = this.db.transaction(STORE, "readwrite", { durability: "strict" });
    const store = tx.objectStore(STORE);
    const last = await promised(store.index("seq").openCursor(null, "prev"));
    const entry = {
      id: crypto.randomUUID(),
      seq: last ? last.value.seq + 1 : 1,
      message,
      queuedAt: Date.now(),
    };
    store.add(entry);
    await done(tx);
    return entry;
  }

  /** Every waiting entry, oldest first. */
  async pending() {
    const tx = this.db.transaction(STORE, "readonly");
    return promised(tx.objectStore(STORE).index("seq").getAll());
  }

  async forget(id) {
    const tx = this.db.transaction(STORE, "readwrite", { durability: "strict" });
    tx.objectStore(STORE).delete(id);
    await done(tx);
  }

  async clear() {
    const tx = this.db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).clear();
    await done(tx);
  }
}
