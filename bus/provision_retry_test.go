package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus/bustest"
)

func TestRetryProvisioning(t *testing.T) {
	peerOffline := &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}
	notAvail := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	badConfig := &jetstream.APIError{Code: 500, ErrorCode: 10023, Description: "insufficient resources"}
	cases := []struct {
		name     string
		errs     []error // what the attempts return, in order; then success
		wantErr  error
		attempts int
	}{
		{"success at once", nil, nil, 1},
		{"a cluster still forming is waited for", []error{notAvail, peerOffline, fmt.Errorf("wrapped: %w", context.DeadlineExceeded)}, nil, 4},
		{"an unanswered request is retried", []error{nats.ErrTimeout, nats.ErrNoResponders}, nil, 3},
		{"a configuration error fails at once", []error{badConfig}, badConfig, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := retryProvisioning(context.Background(), nil, "stream X", func(context.Context) error {
				n++
				if n <= len(tc.errs) {
					return tc.errs[n-1]
				}
				return nil
			})
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.True(t, errors.Is(err, tc.wantErr), "got %v", err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.attempts, n)
		})
	}
	t.Run("an attempt left unanswered is sent again, not waited for until ctx ends", func(t *testing.T) {
		defer func(d time.Duration) { provisionAttemptTimeout = d }(provisionAttemptTimeout)
		provisionAttemptTimeout = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n := 0
		start := time.Now()
		err := retryProvisioning(ctx, nil, "stream X", func(actx context.Context) error {
			n++
			if n == 1 {
				<-actx.Done() // the request is never answered
				return fmt.Errorf("creating the stream: %w", actx.Err())
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Less(t, time.Since(start), 10*time.Second, "retried after the attempt's own timeout")
	})
	t.Run("waiting is logged once, and the success after it", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		n := 0
		err := retryProvisioning(context.Background(), zap.New(core), "stream CHATWARDEN_EVENTS", func(context.Context) error {
			n++
			if n <= 2 {
				return notAvail
			}
			return nil
		})
		require.NoError(t, err)
		entries := logs.All()
		require.Len(t, entries, 2, "one warning for the wait, one line for the success")
		assert.Equal(t, zap.WarnLevel, entries[0].Level)
		assert.Equal(t, "NATS JetStream cannot provision stream CHATWARDEN_EVENTS yet; retrying", entries[0].Message)
		assert.Contains(t, entries[0].ContextMap()["error"], "temporarily unavailable")
		assert.Equal(t, "NATS JetStream ready; provisioned stream CHATWARDEN_EVENTS", entries[1].Message)
		assert.EqualValues(t, 3, entries[1].ContextMap()["attempts"])
	})
	t.Run("a success at once logs nothing", func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel)
		require.NoError(t, retryProvisioning(context.Background(), zap.New(core), "stream X", func(context.Context) error { return nil }))
		assert.Zero(t, logs.Len())
	})
	t.Run("a cancelled context ends the retries", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := retryProvisioning(ctx, nil, "stream X", func(context.Context) error {
			n++
			cancel()
			return notAvail
		})
		assert.ErrorIs(t, err, notAvail)
		assert.Equal(t, 1, n)
	})
}

// formingCluster is a JetStream whose first key-value provisioning requests
// get the answer of a cluster without a meta leader yet.
type formingCluster struct {
	jetstream.JetStream
	refusals int
}

func (f *formingCluster) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if f.refusals > 0 {
		f.refusals--
		return nil, &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	}
	return f.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
}

// TestBucketsWaitForAFormingClusterAndSaySo: the key-value buckets are
// provisioned as the streams are: retried while the cluster forms, with one
// warning and one line when ready, naming the bucket.
func TestBucketsWaitForAFormingClusterAndSaySo(t *testing.T) {
	_, js := bustest.Start(t).Connect(t)
	for _, tc := range []struct {
		bucket    string
		provision func(context.Context, jetstream.JetStream, int, *zap.Logger) (jetstream.KeyValue, error)
	}{
		{DoneBucket, ProvisionDoneBucket},
		{WorkersBucket, ProvisionWorkersBucket},
	} {
		t.Run(tc.bucket, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			kv, err := tc.provision(context.Background(), &formingCluster{JetStream: js, refusals: 2}, 1, zap.New(core))
			require.NoError(t, err)
			assert.Equal(t, tc.bucket, kv.Bucket())
			entries := logs.All()
			require.Len(t, entries, 2)
			assert.Equal(t, "NATS JetStream cannot provision key-value bucket "+tc.bucket+" yet; retrying", entries[0].Message)
			assert.Equal(t, "NATS JetStream ready; provisioned key-value bucket "+tc.bucket, entries[1].Message)
			assert.EqualValues(t, 3, entries[1].ContextMap()["attempts"])
		})
	}
}
