// Package bench is the load tool behind `golog bench`: it drives a running cluster
// with a workload, measures it, and checks what the cluster answered, so that a fast
// wrong answer cannot pass for a fast right one.
//
// # Workloads
//
//	produce   unary (one record per call, Clients calls at a time), stream (pipelined
//	          over one ProduceStream per client, Window records in flight on each),
//	          batch (ProduceBatch, Batch records per call) and http (POST to the JSON
//	          API, Clients keep-alive connections)
//	consume   unary (Consume, Clients calls at a time) and stream (one ConsumeStream
//	          per client, from a follower)
//
// # Records that can be checked
//
// Every record a run writes is made by Payload from the run's nonce and the record's
// index: printable ASCII (so that the HTTP API takes it as a string), the nonce and
// the index in hex first, then filler that depends on both:
//
//	+------------------+------------------+---------------------------+
//	| nonce (16 hex)   | index (16 hex)   | filler a-z, from both     |
//	+------------------+------------------+---------------------------+
//
// A produce run keeps the offset of every acknowledgement and, once timing is over,
// reads the log back and checks it: every acknowledged record at its offset, with its
// own bytes, no offset given twice, and each stream's records in the order they were
// sent. A consume run first writes the records it will read (ProduceBatch), then
// checks each record it reads against Payload: count, order (consecutive offsets on a
// stream) and content. A check that fails makes the run fail.
//
// # Figures
//
// A Result gives records/s and MB/s over the timed phase (MB is 10^6 bytes of record
// values; framing and protocol bytes are not counted), and the latency distribution of
// one operation: for unary calls and HTTP requests, a round trip; for a stream, the
// time from handing a record to the producer to its acknowledgement, which includes
// the wait for room in the window. The percentiles are exact (every sample is kept).
//
// Probe measures the machine rather than golog: a small append plus fdatasync, and
// plus fsync (what the log uses), sequential write bandwidth, and a loopback TCP round
// trip and bandwidth, the limits every figure above is bounded by.
package bench
