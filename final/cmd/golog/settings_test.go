package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"golog"
	"golog/internal/agent"
	"golog/internal/certs"
	"golog/internal/consensus"
	"golog/internal/storage"
	"golog/internal/telemetry"
	"golog/internal/testenv"
)

// certSet is a directory of certificates as golog certs init writes them, under a name
// that configView uses to tell sets apart.
type certSet struct {
	name string
	dir  string
	ca   *x509.CertPool
	cert []byte // the server certificate, DER
}

// newCertSet writes a new set of certificates (a CA of its own) into a new directory.
func newCertSet(t *testing.T, name string) certSet {
	t.Helper()
	bundles, err := certs.Generate()
	require.NoError(t, err)
	dir := filepath.Join(testenv.TempDir(t), name)
	_, err = certs.Write(dir, bundles, false)
	require.NoError(t, err)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKeyFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundles[0].Cert))
	return certSet{name: name, dir: dir, ca: pool, cert: pair.Certificate[0]}
}

// configView is what an agent.Config says, in a form require.Equal can compare: the
// TLS configurations by the certificate set they come from, the ACL by the files'
// contents, the logger by what it writes.
type configView struct {
	NodeName          string
	DataDir           string
	BindAddr          string
	AdvertiseRPCAddr  string
	AdvertiseBindAddr string
	StartJoinAddrs    []string
	Bootstrap         bool
	RPCAddr           string
	HTTPAddr          string
	MaxBodyBytes      int64
	ServerCert        string // the set of ServerTLSConfig's certificate
	ServerCAs         string // the set of the CAs it accepts clients of
	ClientAuth        tls.ClientAuthType
	PeerCert          string // the set of PeerTLSConfig's certificate
	PeerCAs           string // the set of the CAs it accepts servers of
	PeerServerName    string
	PeerNames         []string
	ACLModel          string
	ACLPolicy         string
	Segment           storage.SegmentConfig
	Durability        consensus.Durability
	Retention         consensus.Retention
	RemoveFailedAfter time.Duration
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	LogLevel          slog.Level // the lowest level the logger logs
	LogJSON           bool       // whether it writes JSON
	Tracing           telemetry.TracingConfig
	Lab               bool
	LabSupervisor     string
}

// viewOf returns the view of cfg, whose logger writes to logged, telling certificate
// sets apart among sets.
func viewOf(t *testing.T, cfg agent.Config, logged *bytes.Buffer, sets []certSet) configView {
	t.Helper()
	certName := func(c *tls.Config) string {
		require.Len(t, c.Certificates, 1)
		for _, s := range sets {
			if bytes.Equal(s.cert, c.Certificates[0].Certificate[0]) {
				return s.name
			}
		}
		return "unknown"
	}
	poolName := func(p *x509.CertPool) string {
		for _, s := range sets {
			if p != nil && p.Equal(s.ca) {
				return s.name
			}
		}
		return "unknown"
	}
	read := func(file string) string {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		return string(data)
	}
	require.Nil(t, cfg.RaftTune, "RaftTune is for tests")

	level := slog.LevelError + 1
	for _, l := range []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug} {
		if cfg.Logger.Enabled(context.Background(), l) {
			level = l
		}
	}
	logged.Reset()
	cfg.Logger.Error("probe")

	return configView{
		NodeName:          cfg.NodeName,
		DataDir:           cfg.DataDir,
		BindAddr:          cfg.BindAddr,
		AdvertiseRPCAddr:  cfg.AdvertiseRPCAddr,
		AdvertiseBindAddr: cfg.AdvertiseBindAddr,
		StartJoinAddrs:    cfg.StartJoinAddrs,
		Bootstrap:         cfg.Bootstrap,
		RPCAddr:           cfg.RPCAddr,
		HTTPAddr:          cfg.HTTPAddr,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		ServerCert:        certName(cfg.ServerTLSConfig),
		ServerCAs:         poolName(cfg.ServerTLSConfig.ClientCAs),
		ClientAuth:        cfg.ServerTLSConfig.ClientAuth,
		PeerCert:          certName(cfg.PeerTLSConfig),
		PeerCAs:           poolName(cfg.PeerTLSConfig.RootCAs),
		PeerServerName:    cfg.PeerTLSConfig.ServerName,
		PeerNames:         cfg.PeerNames,
		Tracing:           cfg.Tracing,
		ACLModel:          read(cfg.ACLModelFile),
		ACLPolicy:         read(cfg.ACLPolicyFile),
		Segment:           cfg.Segment,
		Durability:        cfg.Durability,
		Retention:         cfg.Retention,
		RemoveFailedAfter: cfg.RemoveFailedAfter,
		SnapshotThreshold: cfg.SnapshotThreshold,
		SnapshotInterval:  cfg.SnapshotInterval,
		LogLevel:          level,
		LogJSON:           json.Valid(logged.Bytes()),
		Lab:               cfg.Lab,
		LabSupervisor:     cfg.LabSupervisor,
	}
}

// agentConfigOf runs the agent command's flag parsing and settings on args, as golog
// agent ARGS would, and returns the view of the configuration it would start the agent
// with. It fails the test on an error.
func agentConfigOf(t *testing.T, args []string, sets []certSet) configView {
	t.Helper()
	c := newAgentCommand(agentHooks{})
	require.NoError(t, c.cmd.ParseFlags(args))
	require.NoError(t, c.load())
	var logged bytes.Buffer
	cfg, cleanup, err := c.config(&logged)
	require.NoError(t, err)
	defer cleanup()
	return viewOf(t, cfg, &logged, sets)
}

// aclFiles writes an ACL model and policy, distinct from the built-in ones, and returns
// their paths and contents.
func aclFiles(t *testing.T) (modelFile, policyFile, model, policy string) {
	t.Helper()
	dir := testenv.TempDir(t)
	model = golog.ACLModel + "# a copy\n"
	policy = "p, alice, *, produce\n"
	modelFile, policyFile = filepath.Join(dir, "model.conf"), filepath.Join(dir, "policy.csv")
	require.NoError(t, os.WriteFile(modelFile, []byte(model), 0o600))
	require.NoError(t, os.WriteFile(policyFile, []byte(policy), 0o600))
	return modelFile, policyFile, model, policy
}

// TestAgentSettings checks each setting's way into agent.Config, given as a flag, as an
// environment variable and as a key of the config file: the same value must give the
// same configuration all three ways, and change nothing else. Every flag of the agent
// command must have a case.
func TestAgentSettings(t *testing.T) {
	clearEnv(t)
	hostname, err := os.Hostname()
	require.NoError(t, err)
	// The working directory's .certs, the default --cert-dir, holds set1.
	dir := testenv.TempDir(t)
	t.Chdir(dir)
	set1, set2 := newCertSet(t, "set1"), newCertSet(t, "set2")
	require.NoError(t, os.Rename(set1.dir, filepath.Join(dir, ".certs")))
	set1.dir = filepath.Join(dir, ".certs")
	sets := []certSet{set1, set2}
	modelFile, policyFile, model, policy := aclFiles(t)

	defaults := configView{
		NodeName:          hostname,
		DataDir:           ".data",
		BindAddr:          "127.0.0.1:8401",
		Bootstrap:         true,
		RPCAddr:           "127.0.0.1:8400",
		HTTPAddr:          "127.0.0.1:4001",
		MaxBodyBytes:      1 << 20,
		ServerCert:        "set1",
		ServerCAs:         "set1",
		ClientAuth:        tls.RequireAndVerifyClientCert,
		PeerCert:          "set1",
		PeerCAs:           "set1",
		PeerNames:         []string{"server"},
		ACLModel:          golog.ACLModel,
		ACLPolicy:         golog.ACLPolicy,
		Segment:           storage.SegmentConfig{MaxStoreBytes: 64 << 20, MaxIndexBytes: 12 << 20},
		Durability:        consensus.SyncEveryWrite,
		Retention:         consensus.Retention{CheckInterval: time.Minute},
		RemoveFailedAfter: 5 * time.Minute,
		SnapshotThreshold: 8192,
		SnapshotInterval:  30 * time.Second,
		LogLevel:          slog.LevelInfo,
	}

	type setting struct{ flag, value string }
	tests := []struct {
		name     string
		settings []setting
		yaml     string // the config file, if the settings' values quoted will not do
		want     func(*configView)
	}{
		{name: "node-name", settings: []setting{{"node-name", "n7"}},
			want: func(v *configView) { v.NodeName = "n7" }},
		{name: "data-dir", settings: []setting{{"data-dir", "/var/lib/golog"}},
			want: func(v *configView) { v.DataDir = "/var/lib/golog" }},
		{name: "rpc-addr", settings: []setting{{"rpc-addr", ":8402"}},
			want: func(v *configView) { v.RPCAddr = ":8402" }},
		{name: "bind-addr", settings: []setting{{"bind-addr", "10.0.0.5:8401"}},
			want: func(v *configView) { v.BindAddr = "10.0.0.5:8401" }},
		{name: "advertise-rpc-addr", settings: []setting{{"advertise-rpc-addr", "golog-1:8400"}},
			want: func(v *configView) { v.AdvertiseRPCAddr = "golog-1:8400" }},
		{name: "advertise-bind-addr", settings: []setting{{"advertise-bind-addr", "172.18.0.2:8401"}},
			want: func(v *configView) { v.AdvertiseBindAddr = "172.18.0.2:8401" }},
		{
			name: "join", settings: []setting{{"join", "10.0.0.1:8401, 10.0.0.2:8401"}},
			yaml: "join: [10.0.0.1:8401, 10.0.0.2:8401]\n",
			want: func(v *configView) {
				v.StartJoinAddrs = []string{"10.0.0.1:8401", "10.0.0.2:8401"}
				v.Bootstrap = false // by default, only without join addresses
			},
		},
		{name: "bootstrap with join addresses", settings: []setting{{"join", "10.0.0.1:8401"}, {"bootstrap", "true"}},
			want: func(v *configView) { v.StartJoinAddrs = []string{"10.0.0.1:8401"} }},
		{name: "no bootstrap", settings: []setting{{"bootstrap", "false"}},
			want: func(v *configView) { v.Bootstrap = false }},
		{name: "http-addr", settings: []setting{{"http-addr", "[::1]:4002"}},
			want: func(v *configView) { v.HTTPAddr = "[::1]:4002" }},
		{name: "no HTTP API", settings: []setting{{"http-addr", ""}}, yaml: "http-addr: \"\"\n",
			want: func(v *configView) { v.HTTPAddr = "" }},
		{name: "http-allow-remote", settings: []setting{{"http-addr", ":4001"}, {"http-allow-remote", "true"}},
			want: func(v *configView) { v.HTTPAddr = ":4001" }},
		{name: "max-body-bytes", settings: []setting{{"max-body-bytes", "4KiB"}},
			want: func(v *configView) { v.MaxBodyBytes = 4096 }},
		{
			name: "cert-dir", settings: []setting{{"cert-dir", set2.dir}},
			want: func(v *configView) { v.ServerCert, v.ServerCAs, v.PeerCert, v.PeerCAs = "set2", "set2", "set2", "set2" },
		},
		{name: "ca-file", settings: []setting{{"ca-file", filepath.Join(set2.dir, "ca.pem")}},
			want: func(v *configView) { v.ServerCAs, v.PeerCAs = "set2", "set2" }},
		{
			name: "cert-file and key-file",
			settings: []setting{
				{"cert-file", filepath.Join(set2.dir, "server.pem")}, {"key-file", filepath.Join(set2.dir, "server-key.pem")},
			},
			want: func(v *configView) { v.ServerCert, v.PeerCert = "set2", "set2" },
		},
		{
			name: "peer-names", settings: []setting{{"peer-names", "server,golog-a"}}, yaml: "peer-names:\n  - server\n  - golog-a\n",
			want: func(v *configView) { v.PeerNames = []string{"server", "golog-a"} },
		},
		{name: "acl-model", settings: []setting{{"acl-model", modelFile}},
			want: func(v *configView) { v.ACLModel = model }},
		{name: "acl-policy", settings: []setting{{"acl-policy", policyFile}},
			want: func(v *configView) { v.ACLPolicy = policy }},
		{name: "segment-max-store-bytes", settings: []setting{{"segment-max-store-bytes", "1MiB"}},
			want: func(v *configView) { v.Segment.MaxStoreBytes = 1 << 20 }},
		{name: "segment-max-index-bytes", settings: []setting{{"segment-max-index-bytes", "1200"}}, yaml: "segment-max-index-bytes: 1200\n",
			want: func(v *configView) { v.Segment.MaxIndexBytes = 1200 }},
		{name: "durability", settings: []setting{{"durability", "none"}},
			want: func(v *configView) { v.Durability = consensus.SyncNever }},
		{name: "retention-max-bytes", settings: []setting{{"retention-max-bytes", "1GiB"}},
			want: func(v *configView) { v.Retention.MaxBytes = 1 << 30 }},
		{name: "retention-max-age", settings: []setting{{"retention-max-age", "168h"}},
			want: func(v *configView) { v.Retention.MaxAge = 168 * time.Hour }},
		{name: "retention-check-interval", settings: []setting{{"retention-check-interval", "10s"}},
			want: func(v *configView) { v.Retention.CheckInterval = 10 * time.Second }},
		{name: "snapshot-threshold", settings: []setting{{"snapshot-threshold", "100"}}, yaml: "snapshot-threshold: 100\n",
			want: func(v *configView) { v.SnapshotThreshold = 100 }},
		{name: "snapshot-interval", settings: []setting{{"snapshot-interval", "5s"}},
			want: func(v *configView) { v.SnapshotInterval = 5 * time.Second }},
		{name: "remove-failed-after", settings: []setting{{"remove-failed-after", "30s"}},
			want: func(v *configView) { v.RemoveFailedAfter = 30 * time.Second }},
		{name: "log-level", settings: []setting{{"log-level", "debug"}},
			want: func(v *configView) { v.LogLevel = slog.LevelDebug }},
		{name: "log-format", settings: []setting{{"log-format", "json"}},
			want: func(v *configView) { v.LogJSON = true }},
		{name: "trace-endpoint", settings: []setting{{"trace-endpoint", "otel:4317"}},
			want: func(v *configView) { v.Tracing.Endpoint = "otel:4317" }},
		{name: "trace-insecure", settings: []setting{{"trace-endpoint", "localhost:4317"}, {"trace-insecure", "true"}},
			want: func(v *configView) { v.Tracing.Endpoint, v.Tracing.Insecure = "localhost:4317", true }},
		{name: "trace-ca-file", settings: []setting{{"trace-endpoint", "otel:4317"}, {"trace-ca-file", "/etc/otel/ca.pem"}},
			want: func(v *configView) { v.Tracing.Endpoint, v.Tracing.CAFile = "otel:4317", "/etc/otel/ca.pem" }},
		{name: "lab", settings: []setting{{"lab", "true"}},
			want: func(v *configView) { v.Lab = true }},
		{name: "lab-supervisor", settings: []setting{{"lab", "true"}, {"lab-supervisor", "127.0.0.1:4000"}},
			want: func(v *configView) { v.Lab, v.LabSupervisor = true, "127.0.0.1:4000" }},
	}

	t.Run("defaults", func(t *testing.T) {
		require.Equal(t, defaults, agentConfigOf(t, nil, sets))
	})

	covered := map[string]bool{"config": true} // every case uses it
	for _, tc := range tests {
		want := defaults
		want.StartJoinAddrs = slices.Clone(defaults.StartJoinAddrs)
		want.PeerNames = slices.Clone(defaults.PeerNames)
		tc.want(&want)
		var args []string
		yaml := tc.yaml
		for _, s := range tc.settings {
			covered[s.flag] = true
			args = append(args, "--"+s.flag+"="+s.value)
			if tc.yaml == "" {
				yaml += s.flag + ": " + strconv.Quote(s.value) + "\n"
			}
		}

		t.Run(tc.name+"/flag", func(t *testing.T) {
			require.Equal(t, want, agentConfigOf(t, args, sets))
		})
		t.Run(tc.name+"/environment", func(t *testing.T) {
			for _, s := range tc.settings {
				if s.value == "" {
					t.Skip("an empty environment variable counts as unset")
				}
				t.Setenv(envName(s.flag), s.value)
			}
			require.Equal(t, want, agentConfigOf(t, nil, sets))
		})
		t.Run(tc.name+"/config file", func(t *testing.T) {
			file := filepath.Join(testenv.TempDir(t), "golog.yaml")
			require.NoError(t, os.WriteFile(file, []byte(yaml), 0o600))
			require.Equal(t, want, agentConfigOf(t, []string{"--config", file}, sets))
		})
	}

	newAgentCommand(agentHooks{}).cmd.Flags().VisitAll(func(f *pflag.Flag) {
		require.True(t, covered[f.Name], "flag --%s has no case", f.Name)
	})
}

// TestAgentSettingsPrecedence gives settings of each kind of flag from several places
// at once: a flag wins over the environment, which wins over the config file, which
// wins over the default.
func TestAgentSettingsPrecedence(t *testing.T) {
	clearEnv(t)
	settings := []struct {
		flag                string
		def, file, env, cmd string // the default, and the value given in each place
	}{
		{"http-addr", "127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003", "127.0.0.1:4004"},
		{"join", "[]", "[10.0.0.1:1]", "[10.0.0.2:2,10.0.0.3:3]", "[10.0.0.4:4]"},
		{"bootstrap", "false", "true", "false", "true"},
		{"durability", "sync", "none", "sync", "none"},
		{"max-body-bytes", "1MiB", "2MiB", "3MiB", "4MiB"},
		{"snapshot-interval", "30s", "1m0s", "2m0s", "3m0s"},
		{"snapshot-threshold", "8192", "1", "2", "3"},
	}
	// places: which of file, environment and command line give the settings.
	for _, places := range []string{"", "file", "env", "cmd", "file+env", "file+cmd", "env+cmd", "file+env+cmd"} {
		t.Run("given by "+cmpOr(places, "nothing"), func(t *testing.T) {
			args := []string{"--cert-dir", testenv.TempDir(t)}
			var yaml strings.Builder
			for _, s := range settings {
				unlist := strings.NewReplacer("[", "", "]", "")
				if strings.Contains(places, "file") {
					fmt.Fprintf(&yaml, "%s: %s\n", s.flag, s.file) // a YAML list for join
				}
				if strings.Contains(places, "env") {
					t.Setenv(envName(s.flag), unlist.Replace(s.env))
				}
				if strings.Contains(places, "cmd") {
					args = append(args, "--"+s.flag+"="+unlist.Replace(s.cmd))
				}
			}
			if yaml.Len() > 0 {
				file := filepath.Join(testenv.TempDir(t), "golog.yaml")
				require.NoError(t, os.WriteFile(file, []byte(yaml.String()), 0o600))
				args = append(args, "--config="+file)
			}

			c := newAgentCommand(agentHooks{})
			require.NoError(t, c.cmd.ParseFlags(args))
			require.NoError(t, c.load())
			for _, s := range settings {
				want := s.def
				switch {
				case strings.Contains(places, "cmd"):
					want = s.cmd
				case strings.Contains(places, "env"):
					want = s.env
				case strings.Contains(places, "file"):
					want = s.file
				}
				require.Equal(t, want, c.cmd.Flags().Lookup(s.flag).Value.String(), "--%s", s.flag)
			}
		})
	}

	t.Run("GOLOG_CONFIG names the file, unless --config does", func(t *testing.T) {
		dir := testenv.TempDir(t)
		envFile, flagFile := filepath.Join(dir, "env.yaml"), filepath.Join(dir, "flag.yaml")
		require.NoError(t, os.WriteFile(envFile, []byte("node-name: from-env-file\n"), 0o600))
		require.NoError(t, os.WriteFile(flagFile, []byte("node-name: from-flag-file\n"), 0o600))
		t.Setenv("GOLOG_CONFIG", envFile)
		for args, want := range map[string]string{"": "from-env-file", "--config=" + flagFile: "from-flag-file"} {
			c := newAgentCommand(agentHooks{})
			require.NoError(t, c.cmd.ParseFlags(strings.Fields(args)))
			require.NoError(t, c.load())
			require.Equal(t, want, c.settings.NodeName, "args %q", args)
		}
	})
}

// cmpOr returns s, or or if s is empty.
func cmpOr(s, or string) string {
	if s == "" {
		return or
	}
	return s
}

// TestAgentBadSettings checks that a bad setting stops golog agent before it starts,
// with exit status 2 and a message that names where the value came from and why it is
// wrong.
func TestAgentBadSettings(t *testing.T) {
	clearEnv(t)
	t.Chdir(testenv.TempDir(t)) // where a server that wrongly starts would keep its data
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		yaml      string // the config file's contents, if any
		wantError []string
	}{
		{name: "size from the environment", env: map[string]string{"GOLOG_MAX_BODY_BYTES": "1MB"},
			wantError: []string{"GOLOG_MAX_BODY_BYTES", `"1MB" is not a size`}},
		{name: "size from the file", yaml: "max-body-bytes: lots\n",
			wantError: []string{"golog.yaml: max-body-bytes", `"lots" is not a size`}},
		{name: "size from a flag", args: []string{"--max-body-bytes=-1"},
			wantError: []string{"--max-body-bytes", `"-1" is not a size`}},
		{name: "misspelt key", yaml: "acl-mode-file: acl/model.conf\nhttp_addr: x\n",
			wantError: []string{"unknown keys acl-mode-file, http_addr"}},
		{name: "config key in the file", yaml: "config: other.yaml\n", wantError: []string{"unknown keys config"}},
		{name: "nested key", yaml: "http:\n  addr: x\n", wantError: []string{"unknown keys http.addr"}},
		{name: "not YAML", yaml: "node-name: [\n", wantError: []string{"golog.yaml"}},
		{name: "missing config file", args: []string{"--config=/nonexistent/golog.yaml"},
			wantError: []string{"/nonexistent/golog.yaml"}},
		{name: "missing GOLOG_CONFIG file", env: map[string]string{"GOLOG_CONFIG": "/nonexistent/env.yaml"},
			wantError: []string{"/nonexistent/env.yaml"}},
		{name: "list for a single value", yaml: "http-addr: [a, b]\n", wantError: []string{"http-addr", "single value"}},
		{name: "map for a list", yaml: "join: {a: b}\n", wantError: []string{"unknown keys join.a"}},
		{name: "list of lists", yaml: "join: [[a, b]]\n", wantError: []string{"join", "want a list of single values"}},
		{name: "bool", env: map[string]string{"GOLOG_BOOTSTRAP": "yes"}, wantError: []string{"GOLOG_BOOTSTRAP", "yes"}},
		{name: "durability", args: []string{"--durability=fsync"}, wantError: []string{`"fsync" is not one of sync, none`}},
		{name: "log format", env: map[string]string{"GOLOG_LOG_FORMAT": "xml"},
			wantError: []string{"GOLOG_LOG_FORMAT", `"xml" is not one of text, json`}},
		{name: "log level", yaml: "log-level: verbose\n", wantError: []string{"log-level", `"verbose" is not one of`}},
		{name: "HTTP on every interface", args: []string{"--http-addr=:4001"},
			wantError: []string{`--http-addr ":4001"`, "--http-allow-remote"}},
		{name: "HTTP on another machine's address", env: map[string]string{"GOLOG_HTTP_ADDR": "10.0.0.5:4001"},
			wantError: []string{`--http-addr "10.0.0.5:4001"`, "loopback"}},
		{name: "lab supervisor without lab mode", args: []string{"--lab-supervisor=127.0.0.1:4000"},
			wantError: []string{"--lab-supervisor needs --lab"}},
		{name: "insecure tracing with a CA", args: []string{"--trace-endpoint=otel:4317", "--trace-insecure", "--trace-ca-file=ca.pem"},
			wantError: []string{"--trace-insecure and --trace-ca-file contradict"}},
		{name: "tracing options without an endpoint", env: map[string]string{"GOLOG_TRACE_INSECURE": "true"},
			wantError: []string{"need --trace-endpoint"}},
		{name: "no node name", args: []string{"--node-name="}, wantError: []string{"--node-name is required"}},
		{name: "no data directory", yaml: "data-dir: ''\n", wantError: []string{"--data-dir is required"}},
		{name: "no peer names", args: []string{"--peer-names=,"}, wantError: []string{"--peer-names needs"}},
		{name: "no body", args: []string{"--max-body-bytes=0"}, wantError: []string{"--max-body-bytes must be positive"}},
		{name: "no snapshots", args: []string{"--snapshot-threshold=0"}, wantError: []string{"--snapshot-threshold must be positive"}},
		{name: "negative duration", args: []string{"--remove-failed-after=-1s"}, wantError: []string{"--remove-failed-after must be positive"}},
		{name: "negative age", args: []string{"--retention-max-age=-1h"}, wantError: []string{"--retention-max-age must not be negative"}},
		{name: "index smaller than an entry", args: []string{"--segment-max-index-bytes=5"}, wantError: []string{"--segment-max-index-bytes"}},
		{name: "unknown flag", args: []string{"--acl-mode-file=x"}, wantError: []string{"unknown flag: --acl-mode-file"}},
		{name: "argument", args: []string{"data"}, wantError: []string{`unexpected argument "data"`}},
		{
			name: "every error at once", args: []string{"--node-name=", "--max-body-bytes=0"},
			wantError: []string{"--node-name is required", "--max-body-bytes must be positive"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"agent"}, tc.args...)
			if tc.yaml != "" {
				file := filepath.Join(testenv.TempDir(t), "golog.yaml")
				require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
				args = append(args, "--config", file)
			}
			var stdout, stderr bytes.Buffer
			code := execute(t.Context(), newRootCommand(), args, &stdout, &stderr)
			require.Equal(t, exitUsage, code, "stderr: %s", stderr.String())
			for _, want := range tc.wantError {
				require.Contains(t, stderr.String(), want)
			}
			require.Contains(t, stderr.String(), "see 'golog agent --help'")
			require.NotContains(t, stderr.String(), "agent started")
		})
	}
}

// TestAgentHelp checks that golog agent --help lists every setting with its
// environment variable and its default.
func TestAgentHelp(t *testing.T) {
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), newRootCommand(), []string{"agent", "--help"}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	help := stdout.String()
	require.Contains(t, help, "A flag on the command line wins over the environment, which wins over the file")

	// The help of each flag runs from its name to the next flag's.
	_, flags, ok := strings.Cut(help, "\nFlags:\n")
	require.True(t, ok, help)
	chunks := map[string]string{}
	for chunk := range strings.SplitSeq(flags, "\n      --") {
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(chunk), "--"), " ")
		chunks[name] = strings.Join(strings.Fields(chunk), " ")
	}
	newAgentCommand(agentHooks{}).cmd.Flags().VisitAll(func(f *pflag.Flag) {
		text, ok := chunks[f.Name]
		require.True(t, ok, "--%s is not in the help", f.Name)
		require.Contains(t, text, "[$"+envName(f.Name)+"]", "--%s", f.Name)
		if f.Name == "config" {
			return // no default: the one setting not in the file
		}
		require.Contains(t, text, "default", "--%s", f.Name)
		if !slices.Contains([]string{"", "false", "0", "0s", "[]"}, f.DefValue) {
			require.Contains(t, text, f.DefValue, "--%s", f.Name)
		}
	})
}
