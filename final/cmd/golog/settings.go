package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"golog/internal/agent"
	"golog/internal/certs"
	"golog/internal/server"
	"golog/internal/storage"
)

// envPrefix starts the name of every setting's environment variable: the flag
// --http-addr is GOLOG_HTTP_ADDR.
const envPrefix = "GOLOG"

// configFlag names the flag of the config file, the one setting that cannot be in it.
const configFlag = "config"

// settings are the agent command's settings, each a flag, an environment variable and a
// key of the config file (see loadSettings). The defaults are defaultSettings'.
type settings struct {
	NodeName string
	DataDir  string

	RPCAddr           string
	BindAddr          string
	AdvertiseRPCAddr  string
	AdvertiseBindAddr string
	Join              []string
	Bootstrap         bool
	// bootstrapSet says whether Bootstrap was given at all; without it, a server
	// bootstraps when it has no Join addresses.
	bootstrapSet bool

	HTTPAddr        string
	HTTPAllowRemote bool
	MaxBodyBytes    byteSize

	CertDir   string
	CAFile    string
	CertFile  string
	KeyFile   string
	PeerNames []string

	ACLModel  string
	ACLPolicy string

	SegmentMaxStoreBytes   byteSize
	SegmentMaxIndexBytes   byteSize
	Durability             string
	RetentionMaxBytes      byteSize
	RetentionMaxAge        time.Duration
	RetentionCheckInterval time.Duration
	SnapshotThreshold      uint64
	SnapshotInterval       time.Duration
	RemoveFailedAfter      time.Duration

	LogLevel  string
	LogFormat string

	TraceEndpoint string
	TraceInsecure bool
	TraceCAFile   string

	Lab           bool
	LabSupervisor string
}

// Values of --durability, --log-level and --log-format.
const (
	durabilitySync = "sync"
	durabilityNone = "none"
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// defaultSettings returns the settings of a server given none: one that starts a new
// cluster on this machine's loopback interface, as run.sh runs it. The sizes and
// timings are those of the packages they configure, so the help shows what a server
// really uses.
func defaultSettings() settings {
	hostname, _ := os.Hostname() // an empty name is refused by validate
	segments, _ := storage.Config{}.WithDefaults()
	return settings{
		NodeName:               hostname,
		DataDir:                ".data",
		RPCAddr:                "127.0.0.1:8400",
		BindAddr:               "127.0.0.1:8401",
		HTTPAddr:               "127.0.0.1:4001",
		MaxBodyBytes:           server.DefaultMaxBodyBytes,
		CertDir:                ".certs",
		PeerNames:              []string{certs.ServerCommonName},
		SegmentMaxStoreBytes:   byteSize(segments.Segment.MaxStoreBytes),
		SegmentMaxIndexBytes:   byteSize(segments.Segment.MaxIndexBytes),
		Durability:             durabilitySync,
		RetentionCheckInterval: time.Minute,
		SnapshotThreshold:      raft.DefaultConfig().SnapshotThreshold,
		SnapshotInterval:       30 * time.Second,
		RemoveFailedAfter:      agent.DefaultRemoveFailedAfter,
		LogLevel:               "info",
		LogFormat:              "text",
	}
}

// register defines the flags of s on fs, in the order the help lists them, with s's
// values as their defaults, and adds each flag's environment variable to its usage.
func (s *settings) register(fs *pflag.FlagSet) {
	fs.SortFlags = false

	fs.StringVar(&s.NodeName, "node-name", s.NodeName,
		"this server's `name` in the cluster, in gossip and in Raft: unique, and the same across restarts")
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir,
		"`directory` of the log and its Raft state; created if missing")

	fs.StringVar(&s.RPCAddr, "rpc-addr", s.RPCAddr,
		"`host:port` to serve gRPC and Raft on, which clients and the other servers dial. "+
			"In production, this machine's address (10.0.0.5:8400); or :8400 for every interface, "+
			"and then the others dial the host of --bind-addr at that port")
	fs.StringVar(&s.BindAddr, "bind-addr", s.BindAddr,
		"`ip:port` to gossip with the other servers on (Serf, UDP and TCP); "+
			"in production, this machine's address (10.0.0.5:8401), never a wildcard")
	fs.StringVar(&s.AdvertiseRPCAddr, "advertise-rpc-addr", s.AdvertiseRPCAddr,
		"`host:port` the other servers dial for gRPC and Raft, when it is not --rpc-addr: "+
			"a server in a container, listening on :8400 and reached by its service name (default: --rpc-addr)")
	fs.StringVar(&s.AdvertiseBindAddr, "advertise-bind-addr", s.AdvertiseBindAddr,
		"`ip:port` the other servers gossip to, when it is not --bind-addr: a server bound to 0.0.0.0 "+
			"or behind a NAT (default: --bind-addr)")
	fs.StringSliceVar(&s.Join, "join", s.Join,
		"comma-separated --bind-addr `addresses` of servers already in the cluster, to join through "+
			"(default none: start a new cluster, unless --data-dir holds one already)")
	fs.BoolVar(&s.Bootstrap, "bootstrap", s.Bootstrap,
		"start a new cluster with this server as its only voter, if --data-dir holds no Raft state "+
			"(default: true when --join is empty, false otherwise)")

	fs.StringVar(&s.HTTPAddr, "http-addr", s.HTTPAddr,
		"`host:port` of the HTTP JSON API, which has no authentication: a loopback address "+
			"unless --http-allow-remote; empty for no HTTP API")
	fs.BoolVar(&s.HTTPAllowRemote, "http-allow-remote", s.HTTPAllowRemote,
		"WARNING: let --http-addr be an address other machines reach; anyone who can connect "+
			"may then produce and consume without a certificate. Use the gRPC API from other machines "+
			"(default false: loopback only)")
	fs.Var(&s.MaxBodyBytes, "max-body-bytes", "largest HTTP request body accepted")

	fs.StringVar(&s.CertDir, "cert-dir", s.CertDir,
		"`directory` of ca.pem, server.pem and server-key.pem, as golog certs init and make gencert write them")
	fs.StringVar(&s.CAFile, "ca-file", s.CAFile,
		"`file` of the CA certificates clients and servers must be signed by (default: ca.pem in --cert-dir)")
	fs.StringVar(&s.CertFile, "cert-file", s.CertFile,
		"`file` of this server's certificate, for server and client authentication (default: server.pem in --cert-dir)")
	fs.StringVar(&s.KeyFile, "key-file", s.KeyFile,
		"`file` of the server certificate's private key (default: server-key.pem in --cert-dir)")
	fs.StringSliceVar(&s.PeerNames, "peer-names", s.PeerNames,
		"comma-separated certificate Common `names` of the servers: only they may speak Raft")

	fs.StringVar(&s.ACLModel, "acl-model", s.ACLModel,
		"casbin model `file` of the gRPC API's access control (default: the built-in acl/model.conf)")
	fs.StringVar(&s.ACLPolicy, "acl-policy", s.ACLPolicy,
		"casbin policy `file`: who may produce and consume (default: the built-in acl/policy.csv)")

	fs.Var(&s.SegmentMaxStoreBytes, "segment-max-store-bytes",
		"most bytes of records in one segment file; the same on every server")
	fs.Var(&s.SegmentMaxIndexBytes, "segment-max-index-bytes",
		"size of a segment's index, 12 bytes per record; the same on every server")
	fs.Var(newChoice(&s.Durability, durabilitySync, durabilityNone), "durability",
		"sync: a write is acknowledged once it is on the disks (fsync) of a majority; "+
			"none: in their memory, which a power loss of a majority at once may lose")
	fs.Var(&s.RetentionMaxBytes, "retention-max-bytes",
		"remove the oldest segments while the log holds more than this (default 0: keep everything)")
	fs.DurationVar(&s.RetentionMaxAge, "retention-max-age", s.RetentionMaxAge,
		"remove segments whose newest record is older than this, such as 168h (default 0: keep everything)")
	fs.DurationVar(&s.RetentionCheckInterval, "retention-check-interval", s.RetentionCheckInterval,
		"how often the leader applies the retention settings")
	fs.Uint64Var(&s.SnapshotThreshold, "snapshot-threshold", s.SnapshotThreshold,
		"Raft entries since the last snapshot that make the next one; a restart applies at most this many again")
	fs.DurationVar(&s.SnapshotInterval, "snapshot-interval", s.SnapshotInterval,
		"how often Raft checks --snapshot-threshold")
	fs.DurationVar(&s.RemoveFailedAfter, "remove-failed-after", s.RemoveFailedAfter,
		"how long a server must stay failed before the leader removes it from the Raft configuration "+
			"(a server that leaves gracefully is removed at once)")

	fs.Var(newChoice(&s.LogLevel, logLevels...), "log-level", "lowest level logged, to stderr")
	fs.Var(newChoice(&s.LogFormat, logFormats...), "log-format", "text (key=value) or json, one record a line")

	fs.StringVar(&s.TraceEndpoint, "trace-endpoint", s.TraceEndpoint,
		"`host:port` of an OpenTelemetry collector (OTLP over gRPC, port 4317 by convention) to send a span "+
			"of every gRPC call to (default none: no tracing)")
	fs.BoolVar(&s.TraceInsecure, "trace-insecure", s.TraceInsecure,
		"send the spans to --trace-endpoint in plaintext, for a collector on this machine (default false: TLS)")
	fs.StringVar(&s.TraceCAFile, "trace-ca-file", s.TraceCAFile,
		"`file` of the CA certificate the collector's certificate must be signed by (default: the system's CAs)")

	fs.BoolVar(&s.Lab, "lab", s.Lab,
		"lab mode, for teaching on one machine: the cluster console may stop, kill and cut off servers. "+
			"Refused unless every address is loopback; golog lab (./run.sh --lab) sets it (default false)")
	fs.StringVar(&s.LabSupervisor, "lab-supervisor", s.LabSupervisor,
		"loopback `host:port` of the golog lab that started this server in lab mode (default none)")

	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += " [$" + envName(f.Name) + "]"
	})
}

// envName returns the environment variable of the flag called name.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// loadSettings gives every flag of fs that the command line did not set its value from
// the environment or, failing that, from configFile (YAML; none if empty), with viper:
// the precedence is flag > environment > config file > default. An empty environment
// variable counts as unset. The file's keys are the flags' names; a key that is no flag
// is an error, so that a misspelt setting is never silently ignored.
//
// Every value goes through its flag's own parser, as if given on the command line, so a
// value is read the same way from all three places. Lists may be comma-separated
// strings anywhere, and YAML lists in the file. Errors name where the bad value came
// from.
func loadSettings(fs *pflag.FlagSet, configFile string) error {
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if configFile != "" {
		v.SetConfigFile(configFile)
		v.SetConfigType("yaml") // whatever the file's extension
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config file %s: %w", configFile, err)
		}
		var unknown []string
		for _, key := range v.AllKeys() {
			if f := fs.Lookup(key); f == nil || f.Name == configFlag {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown) // AllKeys comes in map order
			return fmt.Errorf("config file %s: unknown keys %s; the keys are the flags' names, such as http-addr",
				configFile, strings.Join(unknown, ", "))
		}
	}

	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == configFlag || f.Name == "help" || !v.IsSet(f.Name) {
			return
		}
		source := "config file " + configFile + ": " + f.Name
		if os.Getenv(envName(f.Name)) != "" {
			source = envName(f.Name)
		}
		if err := setFlag(fs, f, v.Get(f.Name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	})
	return errors.Join(errs...)
}

// setFlag sets flag f of fs to value, a string from the environment or a value of the
// YAML file, and marks it as set.
func setFlag(fs *pflag.FlagSet, f *pflag.Flag, value any) error {
	if list, ok := f.Value.(pflag.SliceValue); ok {
		items, err := listItems(value)
		if err != nil {
			return err
		}
		if err := list.Replace(items); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	// A map never gets here: viper turns its keys into keys of their own (a.b), which
	// are unknown.
	if list, ok := value.([]any); ok {
		return fmt.Errorf("want a single value, not %v", list)
	}
	return fs.Set(f.Name, fmt.Sprint(value))
}

// listItems returns the items of a list setting: a comma-separated string, or a YAML
// list of single values. Spaces around items and empty items are dropped.
func listItems(value any) ([]string, error) {
	var raw []string
	switch value := value.(type) {
	case string:
		raw = strings.Split(value, ",")
	case []any:
		for _, item := range value {
			switch item.(type) {
			case []any, map[string]any:
				return nil, fmt.Errorf("want a list of single values, not %v", value)
			}
			raw = append(raw, fmt.Sprint(item))
		}
	default:
		return nil, fmt.Errorf("want a list or a comma-separated string, not %v", value)
	}
	return splitList(raw), nil
}

// splitList trims the items of a list, splits those with commas (pflag keeps
// "a, b" from the command line as "a" and " b") and drops empty ones; nil for none.
func splitList(raw []string) []string {
	var items []string
	for _, r := range raw {
		for item := range strings.SplitSeq(r, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
	}
	return items
}

// finish completes s once every source is loaded, from fs: it tidies the lists, notes
// whether bootstrap was given, and checks the values. Its errors are the operator's
// to fix.
func (s *settings) finish(fs *pflag.FlagSet) error {
	s.Join = splitList(s.Join)
	s.PeerNames = splitList(s.PeerNames)
	s.bootstrapSet = fs.Changed("bootstrap")
	return s.validate()
}

// validate returns an error for settings no server can start with, naming the flag.
func (s *settings) validate() error {
	var errs []error
	required := []struct{ flag, value string }{
		{"node-name", s.NodeName}, {"data-dir", s.DataDir}, {"rpc-addr", s.RPCAddr}, {"bind-addr", s.BindAddr},
	}
	for _, r := range required {
		if r.value == "" {
			errs = append(errs, fmt.Errorf("--%s is required", r.flag))
		}
	}
	if len(s.PeerNames) == 0 {
		errs = append(errs, errors.New("--peer-names needs at least one name"))
	}
	if s.MaxBodyBytes == 0 {
		errs = append(errs, errors.New("--max-body-bytes must be positive"))
	}
	if s.SnapshotThreshold == 0 {
		errs = append(errs, errors.New("--snapshot-threshold must be positive"))
	}
	positive := []struct {
		flag  string
		value time.Duration
	}{
		{"retention-check-interval", s.RetentionCheckInterval},
		{"snapshot-interval", s.SnapshotInterval},
		{"remove-failed-after", s.RemoveFailedAfter},
	}
	for _, p := range positive {
		if p.value <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive, not %s", p.flag, p.value))
		}
	}
	if s.RetentionMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--retention-max-age must not be negative, not %s", s.RetentionMaxAge))
	}
	if _, err := (storage.Config{Segment: s.segments()}).WithDefaults(); err != nil {
		errs = append(errs, fmt.Errorf("--segment-max-index-bytes: %w", err))
	}
	if s.TraceInsecure && s.TraceCAFile != "" {
		errs = append(errs, errors.New("--trace-insecure and --trace-ca-file contradict each other"))
	}
	if (s.TraceInsecure || s.TraceCAFile != "") && s.TraceEndpoint == "" {
		errs = append(errs, errors.New("--trace-insecure and --trace-ca-file need --trace-endpoint"))
	}
	if s.LabSupervisor != "" && !s.Lab {
		errs = append(errs, errors.New("--lab-supervisor needs --lab"))
	}
	if s.HTTPAddr != "" && !s.HTTPAllowRemote {
		if err := requireLoopback(s.HTTPAddr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// segments returns the segment sizes of s.
func (s *settings) segments() storage.SegmentConfig {
	return storage.SegmentConfig{
		MaxStoreBytes: uint64(s.SegmentMaxStoreBytes),
		MaxIndexBytes: uint64(s.SegmentMaxIndexBytes),
	}
}

// requireLoopback returns an error unless addr's host is a loopback address. The HTTP
// API has no authentication: anyone who can reach it may produce and consume, so by
// default it is only served where nobody but this machine's users can reach it.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http-addr %q: the HTTP API has no authentication and listens on a loopback address "+
		"such as 127.0.0.1:4001 unless you pass --http-allow-remote; from other machines, use the gRPC API "+
		"over mutual TLS", addr)
}
