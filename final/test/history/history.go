package history

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// Kind says what an operation did.
type Kind string

const (
	KindAppend Kind = "append" // produce one record
	KindRead   Kind = "read"   // consume the record at an offset
)

// Outcome is how an operation ended.
type Outcome string

const (
	OK       Outcome = "ok"        // an append acknowledged at Offset; a read that answered Value
	Failed   Outcome = "failed"    // an append the cluster said it did not apply
	Unknown  Outcome = "unknown"   // an append that may have been applied: a timeout, a lost connection
	NotFound Outcome = "not-found" // a read answered "no record at that offset"
	Error    Outcome = "error"     // a read that failed: it says nothing about the log
)

// Consistency is the freshness a read asked for, as the server's API names it.
type Consistency string

const (
	Linearizable Consistency = "linearizable" // reflects every append acknowledged before it began
	Local        Consistency = "local"        // what the answering server has applied; may lag
)

// Op is one client operation: what it asked, what it was answered and when. Times are
// nanoseconds since the Recorder started, from one monotonic clock.
type Op struct {
	ID     int    `json:"id"`
	Client int    `json:"client"` // a worker number: one operation at a time per client
	Kind   Kind   `json:"kind"`
	Via    string `json:"via"`    // the API used: "grpc", "stream" (a client.Producer) or "http"
	Server string `json:"server"` // the server the request was sent to, if one was chosen

	// Value is the value an append wrote, or the value a read answered.
	Value string `json:"value,omitempty"`
	// Offset is the offset an append was acknowledged at, or the offset a read asked for.
	Offset      uint64      `json:"offset"`
	Consistency Consistency `json:"consistency,omitempty"` // reads only

	Outcome Outcome `json:"outcome"`
	Err     string  `json:"err,omitempty"`

	Call   int64 `json:"call"`   // invocation
	Return int64 `json:"return"` // completion; 0 while the operation is pending
}

func (op Op) String() string {
	switch op.Kind {
	case KindAppend:
		s := fmt.Sprintf("#%d client %d append %q via %s/%s: %s", op.ID, op.Client, op.Value, op.Via, op.Server, op.Outcome)
		if op.Outcome == OK {
			s += fmt.Sprintf(" at offset %d", op.Offset)
		}
		return s + op.errSuffix() + op.times()
	default:
		s := fmt.Sprintf("#%d client %d read offset %d (%s) via %s/%s: %s", op.ID, op.Client, op.Offset, op.Consistency, op.Via, op.Server, op.Outcome)
		if op.Outcome == OK {
			s += fmt.Sprintf(" %q", op.Value)
		}
		return s + op.errSuffix() + op.times()
	}
}

func (op Op) errSuffix() string {
	if op.Err == "" {
		return ""
	}
	return " (" + op.Err + ")"
}

func (op Op) times() string {
	return fmt.Sprintf(" [%v, %v]", time.Duration(op.Call), time.Duration(op.Return))
}

// Note is an event of the test itself, such as a fault injected or healed, placed on
// the same clock as the operations so that a report can show what was going on.
type Note struct {
	Time int64  `json:"time"`
	Text string `json:"text"`
}

// Start is a server's start (or restart) as the test made it: Time is taken before the
// server's process begins, so every append acknowledged before Time was committed
// before the server started.
type Start struct {
	Server string `json:"server"`
	Time   int64  `json:"time"`
}

// History is everything a Recorder recorded.
type History struct {
	Ops    []Op    `json:"ops"`
	Notes  []Note  `json:"notes"`
	Starts []Start `json:"starts,omitempty"`
}

// Recorder records operations from many goroutines. Safe for concurrent use.
type Recorder struct {
	start time.Time // carries Go's monotonic clock reading

	mu     sync.Mutex
	ops    []Op    // guarded by mu; completed operations
	notes  []Note  // guarded by mu
	starts []Start // guarded by mu
	next   int     // guarded by mu; the ID of the next operation
}

// NewRecorder returns a Recorder whose clock starts now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now()}
}

// Now returns the Recorder's clock: nanoseconds since it started.
func (r *Recorder) Now() int64 {
	return int64(time.Since(r.start))
}

// Note records an event of the test at the current time.
func (r *Recorder) Note(format string, args ...any) {
	n := Note{Time: r.Now(), Text: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, n)
}

// Started records that server is about to be started again (a restart, or a start
// after a crash). Call it before the server's process begins.
func (r *Recorder) Started(server string) {
	st := Start{Server: server, Time: r.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, st)
}

// Append records the invocation of an append of value, sent by client through via to
// server. Call exactly one of the Pending's methods when its answer arrives.
func (r *Recorder) Append(client int, via, server, value string) *Pending {
	return r.begin(Op{Client: client, Kind: KindAppend, Via: via, Server: server, Value: value})
}

// Read records the invocation of a read of offset with consistency c.
func (r *Recorder) Read(client int, via, server string, offset uint64, c Consistency) *Pending {
	return r.begin(Op{Client: client, Kind: KindRead, Via: via, Server: server, Offset: offset, Consistency: c})
}

func (r *Recorder) begin(op Op) *Pending {
	r.mu.Lock()
	op.ID = r.next
	r.next++
	r.mu.Unlock()
	op.Call = r.Now()
	return &Pending{r: r, op: op}
}

// History returns a copy of the operations completed so far, in invocation order, the
// notes and the starts. Operations still pending are left out: an append whose answer never came
// is recorded by its Pending's Maybe, which the caller must call before asking.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := slices.Clone(r.ops)
	slices.SortFunc(ops, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	return History{Ops: ops, Notes: slices.Clone(r.notes), Starts: slices.Clone(r.starts)}
}

// Pending is an operation that has been invoked and has not completed. Each method
// completes it; call exactly one, once.
type Pending struct {
	r  *Recorder
	op Op
}

// Appended records an append acknowledged at offset.
func (p *Pending) Appended(offset uint64) { p.op.Offset = offset; p.done(OK, nil) }

// Failed records an append the cluster said it did not apply (applied: no).
func (p *Pending) Failed(err error) { p.done(Failed, err) }

// Maybe records an append that may have been applied: its answer was lost, it timed
// out, or the cluster said applied: maybe.
func (p *Pending) Maybe(err error) { p.done(Unknown, err) }

// Found records a read answered with value.
func (p *Pending) Found(value string) { p.op.Value = value; p.done(OK, nil) }

// NotFound records a read answered "no record at that offset".
func (p *Pending) NotFound(err error) { p.done(NotFound, err) }

// ReadFailed records a read that failed without an answer about the log.
func (p *Pending) ReadFailed(err error) { p.done(Error, err) }

func (p *Pending) done(o Outcome, err error) {
	p.op.Return = p.r.Now()
	p.op.Outcome = o
	if err != nil {
		p.op.Err = err.Error()
	}
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.r.ops = append(p.r.ops, p.op)
}

// Save writes h as indented JSON to path.
func (h History) Save(path string) error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return nil
}

// Load reads a History that Save wrote.
func Load(r io.Reader) (History, error) {
	var h History
	if err := json.NewDecoder(r).Decode(&h); err != nil {
		return History{}, fmt.Errorf("decode history: %w", err)
	}
	return h, nil
}
