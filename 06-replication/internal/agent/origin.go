package agent

import (
	"golog/internal/log"
	"golog/internal/server"
)

// stampedLog is the log as this server's gRPC and HTTP servers see it: every record
// appended through it gets this server's name as its Origin. The Replicator appends to
// the log itself instead, so that a copy keeps the Origin of the server it was
// produced on, and the other servers do not copy it from here.
type stampedLog struct {
	*log.Log
	origin string // the server's name, Config.NodeName
}

var _ server.StreamingLog = stampedLog{}

// Append appends a copy of r whose Origin is the server's name; r is not modified.
// An Origin sent by the client is overwritten: a client cannot make a record look as if
// it had been produced on another server.
func (l stampedLog) Append(r *log.Record) (uint64, error) {
	return l.Log.Append(&log.Record{Value: r.GetValue(), Origin: l.origin})
}
