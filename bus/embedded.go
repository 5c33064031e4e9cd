package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
)

// checkListenAuth refuses an embedded server listening beyond this host
// without configured credentials: generated ones live in a file only local
// users can be given, so a network listener must be protected by choice.
func checkListenAuth(cfg config.NATS) error {
	if cfg.Listen == "" || cfg.Listen == config.ListenOff || config.IsLoopbackAddr(cfg.Listen) {
		return nil
	}
	if _, ok := configuredCredentials(cfg); ok {
		return nil
	}
	return fmt.Errorf("nats.listen %s is not a loopback address: set nats.user and nats.password (or nats.token) "+
		"so the embedded broker is not open to the network, or listen on 127.0.0.1", cfg.Listen)
}

func startEmbedded(cfg config.NATS, creds Credentials, logger *zap.Logger) (*server.Server, error) {
	sopts := &server.Options{
		ServerName:            "chatwarden-embedded",
		JetStream:             true,
		StoreDir:              cfg.DataDir,
		JetStreamMaxStore:     cfg.MaxFileStoreBytes,
		MaxPayload:            embeddedMaxPayload,
		NoSigs:                true,
		DisableShortFirstPing: true,
	}
	if err := serverCredentials(sopts, creds); err != nil {
		return nil, err
	}
	switch cfg.Listen {
	case "", "off":
		sopts.DontListen = true
	default:
		host, portStr, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: want host:port: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: bad port: %w", cfg.Listen, err)
		}
		if port <= 0 {
			port = server.RANDOM_PORT
		} else if err := checkFree(cfg.Listen); err != nil {
			return nil, fmt.Errorf("nats.listen %s is already in use (is another chatwarden serve running? set nats.listen to a free address, or nats.url to use that server): %w", cfg.Listen, err)
		}
		sopts.Host, sopts.Port = host, port
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating nats.data_dir %s: %w", cfg.DataDir, err)
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("configuring embedded NATS server: %w", err)
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(serverLogger{s: logger.Named("server").Sugar(), fatal: fatal}, false, false, false)
	go srv.Start()
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(30 * time.Second) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS server (data in nats.data_dir %s) did not become ready in 30s; see the log above", cfg.DataDir)
		}
	case msg := <-fatal: // the server gave up starting (say, JetStream cannot use its store)
		srv.Shutdown() // ReadyForConnections still waits out its 30s, in the background
		return nil, unusable("nats.data_dir %s: the embedded NATS server cannot start: %s", cfg.DataDir, msg)
	}
	logger.Info("embedded NATS server started", zap.String("data_dir", cfg.DataDir),
		zap.String("listen", listenAddr(srv)))
	return srv, nil
}

// lockListen is the address recorded in the lock file: where other processes
// reach this server, or "off".
func lockListen(srv *server.Server) string {
	if a := srv.Addr(); a != nil {
		return a.String()
	}
	return config.ListenOff
}

func listenAddr(srv *server.Server) string {
	if a := srv.Addr(); a != nil {
		return a.String()
	}
	return "in-process only"
}

func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// serverLogger routes the embedded server's log into zap. Notices are
// demoted to debug: the server is an implementation detail of `serve`. A
// fatal error (the server gives up starting, e.g. "Can't start JetStream")
// is also sent on fatal, if not full, so that startEmbedded fails at once.
type serverLogger struct {
	s     *zap.SugaredLogger
	fatal chan<- string
}

func (l serverLogger) Noticef(f string, v ...any) { l.s.Debugf(f, v...) }
func (l serverLogger) Warnf(f string, v ...any)   { l.s.Warnf(f, v...) }
func (l serverLogger) Fatalf(f string, v ...any) {
	l.s.Errorf(f, v...)
	select {
	case l.fatal <- fmt.Sprintf(f, v...):
	default:
	}
}
func (l serverLogger) Errorf(f string, v ...any) { l.s.Errorf(f, v...) }
func (l serverLogger) Debugf(f string, v ...any) { l.s.Debugf(f, v...) }
func (l serverLogger) Tracef(f string, v ...any) {}

// Embedded reports whether this process runs the NATS server itself.
func (b *Bus) Embedded() bool { return b.embedded }

// server is the embedded server now (nil without one).
func (b *Bus) server() *server.Server { return b.srv.Load() }

// inProcess connects nats.go in-process to the embedded server of the
// moment, so that the connection reconnects to the new server after
// restartServer.
type inProcess struct{ b *Bus }

func (p inProcess) InProcessConn() (net.Conn, error) {
	srv := p.b.server()
	if srv == nil {
		return nil, errors.New("no embedded NATS server")
	}
	return srv.InProcessConn()
}
