package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

func TestSecondOpenerOfTheDataDirFailsAtOnceNamingTheHolder(t *testing.T) {
	_, natsURL, path, _ := runServeConfig(t, "", nil)
	dataDir := filepath.Join(filepath.Dir(path), "data")
	u, err := url.Parse(natsURL)
	require.NoError(t, err)
	// Both configurations name the serve's data directory with another
	// nats.listen, where nothing runs.
	second := writeFile(t, "second.yaml", fmt.Sprintf("http: {addr: \"127.0.0.1:%d\"}\nnats: {listen: \"127.0.0.1:%d\", data_dir: %q}\n",
		bustest.FreePort(t), bustest.FreePort(t), dataDir))
	operator := writeFile(t, "operator.yaml", fmt.Sprintf("nats: {listen: \"127.0.0.1:%d\", data_dir: %q}\n", bustest.FreePort(t), dataDir))

	tests := []struct {
		name string
		args []string
	}{
		{"a second serve", []string{"serve", "--config", second}},
		{"a subcommand whose nats.listen differs", []string{"dlq", "list", "--config", operator}},
		{"audit whose nats.listen differs", []string{"audit", "--config", operator}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now()
			_, stderr, code := runCLI(t, tt.args...)
			assert.Equal(t, 1, code, stderr)
			assert.Less(t, time.Since(begin), 10*time.Second, "fails at once instead of waiting for the holder")
			assert.Contains(t, stderr, dataDir)
			assert.Contains(t, stderr, "process "+strconv.Itoa(os.Getpid()), "names the holder")
			assert.Contains(t, stderr, "set nats.listen to "+u.Host, "says how to reach it")
		})
	}
}

// restartConfig is a service configuration on fixed ports, so that a service
// started again answers where the first did.
func restartConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Addr = fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	cfg.Admin.Addr = fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	cfg.NATS.Listen = fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	cfg.NATS.DataDir = t.TempDir()
	cfg.LiveChat.WebhookSecrets = []string{dlqSecret}
	cfg.RulesFile = writeFile(t, "rules.yaml", dlqRules)
	require.NoError(t, cfg.Validate())
	return cfg
}

// loseConnection makes the broker drop svc's connection with an error after
// which nats.go never reconnects: a control line over 4,096 bytes.
func loseConnection(t *testing.T, svc *service.Service) {
	t.Helper()
	require.NoError(t, svc.Bus().Conn.Publish("chatwarden.test."+strings.Repeat("x", 5000), nil))
}

func postIncoming(t *testing.T, addr, chat string) int {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/webhooks/livechat", "application/json",
		bytes.NewReader(samples.LiveChat("incoming_chat", dlqSecret, chat, "T-"+chat)))
	if err != nil {
		return 0 // between two services nothing listens
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeStartsAgainOnANewBrokerConnection(t *testing.T) {
	cfg := restartConfig(t)
	var (
		mu      sync.Mutex
		started []*service.Service
	)
	latest := func() (*service.Service, int) {
		mu.Lock()
		defer mu.Unlock()
		return started[len(started)-1], len(started)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runService(ctx, cfg, zaptest.NewLogger(t), func(ctx context.Context) (*service.Service, error) {
			svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(zaptest.NewLogger(t)))
			if err == nil {
				mu.Lock()
				started = append(started, svc)
				mu.Unlock()
			}
			return svc, err
		})
	}()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		n := len(started)
		mu.Unlock()
		if assert.Equal(c, 1, n) {
			assert.Equal(c, http.StatusOK, postIncoming(t, cfg.HTTP.Addr, "C1"))
		}
	}, 30*time.Second, 20*time.Millisecond)

	first, _ := latest()
	loseConnection(t, first)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, n := latest()
		assert.Equal(c, 2, n, "started again")
		assert.Equal(c, http.StatusOK, postIncoming(t, cfg.HTTP.Addr, "C2"), "webhooks are stored again")
	}, 30*time.Second, 20*time.Millisecond, "generous for CI: stopping and starting takes about a second")
	second, _ := latest()
	assert.NoError(t, second.Bus().Alive(context.Background()))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeFailsWhenTheBrokerCannotBeReachedAgain(t *testing.T) {
	cfg := restartConfig(t)
	starts := make(chan *service.Service, 1)
	done := make(chan error, 1)
	go func() {
		done <- runService(context.Background(), cfg, zaptest.NewLogger(t), func(ctx context.Context) (*service.Service, error) {
			select {
			case <-starts: // the second start: the broker stays out of reach
				return nil, errors.New("connecting to NATS: no servers available")
			default:
			}
			svc, err := service.Start(ctx, cfg, service.Roles{Receive: true}, service.WithLogger(zaptest.NewLogger(t)))
			if err == nil {
				starts <- svc
			}
			return svc, err
		})
	}()
	var svc *service.Service
	select {
	case svc = <-starts:
	case err := <-done:
		t.Fatalf("serve did not start: %v", err)
	}
	starts <- svc
	loseConnection(t, svc)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "starting the service again")
		assert.Contains(t, err.Error(), "no servers available")
		assert.Equal(t, 1, ExitCode(err))
	case <-time.After(30 * time.Second):
		t.Fatal("serve kept running without a broker connection")
	}
}
