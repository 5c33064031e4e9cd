package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
)

// OperatorConnectTimeout bounds how long OpenForOperator waits for a NATS
// server (nats.url, or the embedded server's listener) before giving up.
const OperatorConnectTimeout = 10 * time.Second

// OpenForOperator connects an operational command (`dlq`, `audit`, `replay`,
// `sweep`, ...) to the same JetStream the service uses, whether or not the
// service is running:
//
//  1. nats.url set: connect there, as Open does, but give up after
//     OperatorConnectTimeout (or when ctx ends) instead of waiting forever.
//  2. nats.url empty and nats.listen a host:port: connect to the embedded
//     server of a running `serve`/`receive`/`work` on its loopback listener
//     (a wildcard host such as 0.0.0.0 or "" is reached on 127.0.0.1), with
//     nats.user/nats.password or nats.token when set, otherwise with the
//     credentials the service keeps in nats.data_dir (CredentialsFile).
//  3. Nothing listens there (or nats.listen is "off"): start the embedded
//     server on nats.data_dir in this process, without a listener, as Open
//     does with nats.listen "off". The data directory must already hold
//     JetStream data; otherwise it fails with ErrNoBroker rather than create
//     empty streams somewhere unexpected.
//
// Use Bus.Embedded on the result to tell case 3 (this process runs the
// server) from the others, e.g. to tell the operator that changes will be
// handled when the service starts. Close the Bus when done.
//
// It neither provisions streams nor creates consumers: callers read and write
// the streams the service created, and should report a missing stream as
// "has the service run with this configuration?".
//
// In case 3 the data directory's lock (see Open) is taken: when a service
// runs on it but could not be reached (its nats.listen differs from cfg's, or
// is off), OpenForOperator fails at once with ErrDataDirLocked, naming the
// service's pid and the nats.listen address to use instead.
func OpenForOperator(ctx context.Context, cfg config.NATS, opts ...Option) (*Bus, error) {
	if cfg.URL != "" {
		ctx, cancel := context.WithTimeout(ctx, OperatorConnectTimeout)
		defer cancel()
		return Open(ctx, cfg, opts...)
	}
	if addr, ok := loopbackAddr(cfg.Listen); ok {
		b, err := dialListener(ctx, addr, cfg, opts)
		if err == nil || !errors.Is(err, errNothingListening) {
			return b, err
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "jetstream")); err != nil {
		where := "nats.listen is off"
		if _, ok := loopbackAddr(cfg.Listen); ok {
			where = "nothing listens on nats.listen " + cfg.Listen
		}
		return nil, fmt.Errorf("%w: %s, and nats.data_dir %s holds no JetStream data; start `chatwarden serve`, "+
			"or pass the service's configuration with --config (nats.url, nats.listen, nats.data_dir)",
			ErrNoBroker, where, cfg.DataDir)
	}
	cfg.Listen = config.ListenOff
	return Open(ctx, cfg, opts...)
}

var errNothingListening = errors.New("nothing listening")

// dialListener connects to a running embedded server's listener. It returns
// errNothingListening when no TCP connection can be made there.
func dialListener(ctx context.Context, addr string, cfg config.NATS, opts []Option) (*Bus, error) {
	o := options{logger: zap.NewNop(), partitions: config.DefaultPartitions}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{Timeout: time.Second}
	probe, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %v", errNothingListening, addr, err)
	}
	_ = probe.Close()

	b := newBus(o.logger, o.partitions)
	nopts := append(b.connOptions(cfg), nats.Timeout(OperatorConnectTimeout))
	creds, ok := configuredCredentials(cfg)
	var credsErr error
	if !ok {
		creds, credsErr = ReadCredentials(cfg.DataDir)
	}
	if credsErr == nil {
		nopts = append(nopts, creds.Option())
	}
	url := "nats://" + addr
	nc, err := nats.Connect(url, nopts...)
	if errors.Is(err, nats.ErrAuthorization) {
		why := "it refused the credentials in " + filepath.Join(cfg.DataDir, CredentialsFile)
		if ok {
			why = "it refused nats.user/nats.password (or nats.token)"
		} else if credsErr != nil {
			why = fmt.Sprintf("no credentials to present: %v", credsErr)
		}
		return nil, fmt.Errorf("connecting to the embedded NATS server on nats.listen %s: %w: %s; "+
			"run the command with the service's configuration (the service keeps its credentials in its nats.data_dir), "+
			"or give both nats.user and nats.password", addr, err, why)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to the embedded NATS server on nats.listen %s: %w "+
			"(something listens there but does not answer as NATS; check nats.listen)", addr, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.closed.Store(true)
		nc.Close()
		return nil, fmt.Errorf("opening JetStream on %s: %w", url, err)
	}
	b.Conn, b.JS = nc, js
	return b, nil
}

// loopbackAddr turns nats.listen into an address this host can dial: a
// wildcard or empty host becomes loopback. ok is false when the listener is
// off or its port is chosen at random (0), so it cannot be found.
func loopbackAddr(listen string) (addr string, ok bool) {
	if listen == "" || listen == config.ListenOff {
		return "", false
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" || port == "" {
		return "", false
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), true
}
