import { MemoryAuditSink } from "../../src/audit/memory-audit-sink.js";
import { readerContract } from "./reader-contract.js";

readerContract("memory ring", async () => ({ sink: new MemoryAuditSink({ capacity: 100_000 }), close: async () => {} }));
