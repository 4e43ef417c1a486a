package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"golog"
	"golog/internal/agent"
	"golog/internal/certs"
	tlsconfig "golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/telemetry"
)

const agentLong = `Run one server of a golog cluster: a commit log kept in --data-dir and replicated
with Raft, served over gRPC with mutual TLS on --rpc-addr (where the servers also speak
Raft, over TLS with the server certificate) and over the HTTP JSON API on --http-addr,
gossiping with the other servers on --bind-addr.

A server started without --join starts a new cluster and becomes its leader (unless
--data-dir holds Raft state: then it rejoins the cluster it was in). Start the others
with --join set to the --bind-addr of a server already in the cluster; the leader adds
them. Only the leader takes writes; an HTTP write that reaches a follower is forwarded
to it. Every server serves reads.

Settings. Every flag is also an environment variable, named in brackets after it, and a
key of the YAML file given by --config (or $GOLOG_CONFIG), named like the flag:

    http-addr: 127.0.0.1:4001
    join: [10.0.0.5:8401, 10.0.0.6:8401]
    retention-max-age: 168h

A flag on the command line wins over the environment, which wins over the file, which
wins over the default. An empty environment variable counts as unset; a key of the file
that is no flag is an error. Lists are comma-separated (or YAML lists in the file), sizes
take a unit (64MiB; a plain number is bytes), durations are Go durations (30s, 5m, 168h).

In production, give each server its own address: --rpc-addr 10.0.0.5:8400 and
--bind-addr 10.0.0.5:8401, or --rpc-addr :8400 to listen on every interface, with
--bind-addr still naming the address the others dial. The server certificate must be
valid for the host of that address (golog certs init --host 10.0.0.5, or your own CA).
Keep the HTTP API on loopback: it has no authentication.

SIGINT or SIGTERM stops the server gracefully: a leader hands its leadership over, the
server leaves the cluster, lets the requests in flight finish, stops Raft and closes the
log. A second signal stops it at once.

Exit status: 0 after a graceful stop, 1 for bad flags or settings, 7 if the server cannot
start, fails while serving or cannot stop cleanly.`

// agentHooks let tests reach into the agent command. The zero value is what golog runs.
type agentHooks struct {
	// configure, if set, is called with the agent's configuration just before the agent
	// starts, and may change it: tests shorten Raft's and Serf's timers and send the
	// logs to the test.
	configure func(*agent.Config)
	// started, if set, is called with the agent once it serves.
	started func(*agent.Agent)
}

// agentCommand is the agent command with its flags' values.
type agentCommand struct {
	cmd        *cobra.Command
	settings   settings
	configFile string
	hooks      agentHooks
}

// newAgentCommand returns the agent command; hooks are for tests.
func newAgentCommand(hooks agentHooks) *agentCommand {
	c := &agentCommand{settings: defaultSettings(), hooks: hooks}
	c.cmd = &cobra.Command{
		Use:   "agent [flags]",
		Short: "Run a server of a golog cluster",
		Long:  agentLong,
		Example: `  golog certs init --dir .certs
  golog agent --node-name a --data-dir .data/a
  golog agent --node-name b --data-dir .data/b --http-addr 127.0.0.1:4002 \
      --rpc-addr 127.0.0.1:8410 --bind-addr 127.0.0.1:8411 --join 127.0.0.1:8401`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.load(); err != nil {
				return usageError{err}
			}
			return c.run(cmd.Context(), cmd.ErrOrStderr())
		},
	}
	fs := c.cmd.Flags()
	c.settings.register(fs)
	fs.StringVar(&c.configFile, configFlag, "",
		"YAML `file` of settings, keyed by flag name; flags and the environment win over it [$GOLOG_CONFIG]")
	return c
}

// load completes the settings from the environment and the config file once the
// command line is parsed, and checks them.
func (c *agentCommand) load() error {
	fs := c.cmd.Flags()
	if !fs.Changed(configFlag) {
		c.configFile = os.Getenv(envName(configFlag))
	}
	if err := loadSettings(fs, c.configFile); err != nil {
		return err
	}
	return c.settings.finish(fs)
}

// run starts a server with the settings and runs it until ctx is done, then stops it
// gracefully. It logs to logOut. It returns nil after a clean stop, and an error if the
// server cannot start (certificates, ACL, ports, log, joining the cluster), serving
// fails, or stopping fails. If it cannot start, nothing is left running.
func (c *agentCommand) run(ctx context.Context, logOut io.Writer) error {
	s := c.settings
	cfg, cleanup, err := c.config(logOut)
	if err != nil {
		return err
	}
	defer cleanup()
	logger := cfg.Logger
	if s.HTTPAddr != "" && s.HTTPAllowRemote && requireLoopback(s.HTTPAddr) != nil {
		logger.Warn("the HTTP API has no authentication and is open to other machines (--http-allow-remote)",
			"http_addr", s.HTTPAddr)
	}

	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	if c.hooks.started != nil {
		c.hooks.started(a)
	}
	select {
	case <-ctx.Done():
		logger.Info("stopping gracefully; a second signal stops at once", "cause", context.Cause(ctx))
	case <-a.Stopped(): // serving failed; Shutdown says why
	}
	return a.Shutdown()
}

// config returns the agent configuration of the settings, logging to logOut, as the
// hooks leave it; cleanup releases what it needs until the agent stops (see
// agentConfig).
func (c *agentCommand) config(logOut io.Writer) (cfg agent.Config, cleanup func(), err error) {
	logger := newLogger(logOut, c.settings.LogLevel, c.settings.LogFormat)
	cfg, cleanup, err = c.settings.agentConfig(logger)
	if err != nil {
		return agent.Config{}, nil, err
	}
	if c.hooks.configure != nil {
		c.hooks.configure(&cfg)
	}
	return cfg, cleanup, nil
}

// agentConfig returns the agent configuration of s, logging to logger. It loads the
// TLS certificates, and writes the built-in ACL files to a temporary directory if they
// are needed; cleanup removes that directory, once the agent has stopped.
func (s settings) agentConfig(logger *slog.Logger) (cfg agent.Config, cleanup func(), err error) {
	serverTLS, peerTLS, err := s.loadTLS()
	if err != nil {
		return agent.Config{}, nil, err
	}
	model, policy, cleanup, err := s.aclFiles()
	if err != nil {
		return agent.Config{}, nil, err
	}
	durability := consensus.SyncEveryWrite
	if s.Durability == durabilityNone {
		durability = consensus.SyncNever
	}
	bootstrap := s.Bootstrap
	if !s.bootstrapSet {
		bootstrap = len(s.Join) == 0
	}
	return agent.Config{
		NodeName:          s.NodeName,
		DataDir:           s.DataDir,
		BindAddr:          s.BindAddr,
		AdvertiseRPCAddr:  s.AdvertiseRPCAddr,
		AdvertiseBindAddr: s.AdvertiseBindAddr,
		StartJoinAddrs:    s.Join,
		Bootstrap:         bootstrap,
		RPCAddr:           s.RPCAddr,
		HTTPAddr:          s.HTTPAddr,
		MaxBodyBytes:      int64(s.MaxBodyBytes),
		ServerTLSConfig:   serverTLS,
		PeerTLSConfig:     peerTLS,
		PeerNames:         s.PeerNames,
		ACLModelFile:      model,
		ACLPolicyFile:     policy,
		Segment:           s.segments(),
		Durability:        durability,
		Retention: consensus.Retention{
			MaxBytes:      uint64(s.RetentionMaxBytes),
			MaxAge:        s.RetentionMaxAge,
			CheckInterval: s.RetentionCheckInterval,
		},
		SnapshotThreshold: s.SnapshotThreshold,
		SnapshotInterval:  s.SnapshotInterval,
		RemoveFailedAfter: s.RemoveFailedAfter,
		Tracing: telemetry.TracingConfig{
			Endpoint: s.TraceEndpoint, Insecure: s.TraceInsecure, CAFile: s.TraceCAFile,
		},
		Logger:        logger,
		Lab:           s.Lab,
		LabSupervisor: s.LabSupervisor,
	}, cleanup, nil
}

// tlsFiles returns the paths of the CA, certificate and key files: the flags that name
// them, or the files of --cert-dir.
func (s settings) tlsFiles() (ca, cert, key string) {
	pick := func(file, name string) string {
		if file != "" {
			return file
		}
		return filepath.Join(s.CertDir, name)
	}
	return pick(s.CAFile, certs.CAFile), pick(s.CertFile, certs.ServerFile), pick(s.KeyFile, certs.ServerKeyFile)
}

// loadTLS returns the two TLS configurations of a server. Both present the server
// certificate: serverTLS to clients and to the servers that dial this one (it demands
// their certificates, signed by the CA), peerTLS to the servers this one dials for
// Raft, which accept server identities only.
func (s settings) loadTLS() (serverTLS, peerTLS *tls.Config, err error) {
	ca, cert, key := s.tlsFiles()
	serverTLS, err = tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: cert, KeyFile: key, CAFile: ca, Server: true,
	})
	if err == nil {
		// No ServerAddress: each peer's certificate is checked against the host of the
		// address this server dials, the peer's advertised RPC address.
		peerTLS, err = tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{CertFile: cert, KeyFile: key, CAFile: ca})
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w\nmake the certificates with: golog certs init --dir %s", err, s.CertDir)
	}
	return serverTLS, peerTLS, err
}

// aclFiles returns the ACL model and policy files: those of the flags, or the built-in
// ones written to a new temporary directory, which cleanup removes.
func (s settings) aclFiles() (model, policy string, cleanup func(), err error) {
	model, policy, cleanup = s.ACLModel, s.ACLPolicy, func() {}
	if model != "" && policy != "" {
		return model, policy, cleanup, nil
	}
	dir, err := os.MkdirTemp("", "golog-acl-")
	if err != nil {
		return "", "", nil, fmt.Errorf("built-in ACL: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) } // a temporary copy: nothing to lose
	for _, f := range []struct {
		path    *string
		name    string
		content string
	}{
		{&model, "model.conf", golog.ACLModel},
		{&policy, "policy.csv", golog.ACLPolicy},
	} {
		if *f.path != "" {
			continue
		}
		*f.path = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.path, []byte(f.content), 0o600); err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("built-in ACL: %w", err)
		}
	}
	return model, policy, cleanup, nil
}

// newLogger returns a logger that writes to w from level up, in format text or json;
// level and format are among logLevels and logFormats.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // checked by the flag: debug, info, warn or error
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
