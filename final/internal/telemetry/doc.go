// Package telemetry is what a server tells the tools operators already run: Prometheus
// metrics, scraped from /metrics on the HTTP address, and OpenTelemetry traces of its
// gRPC calls, sent to a collector when one is configured (see tracing.go).
//
// # Two kinds of metrics
//
// Counters and histograms count what clients ask of this server. They are kept by a
// wrapper around the log the gRPC and HTTP servers use (Metrics.Log), so both APIs count
// alike: every Append (a Produce, ProduceBatch, a forwarded write), every proposal of a
// ProduceStream, every Read (a Consume, each record a ConsumeStream sends, an HTTP GET).
//
//	client ──gRPC/HTTP──▶ server ──▶ Metrics.Log ──▶ consensus.DistributedLog
//	                                 counts, latency
//
// Gauges describe the server's state. They are read when Prometheus scrapes, from the
// log's Status, its Raft configuration, its data segments and gossip's member list
// (a prometheus.Collector), so they cost nothing between scrapes and are never stale.
//
// Every name starts with golog_; the README lists them. The registry is this server's
// own (not the global one), with Go's runtime and process metrics beside golog's.
package telemetry
