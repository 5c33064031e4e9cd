package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as the load script's child process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		// As main does, so the child's profiling runs as in the command.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProfileDirectoryIsCreated: -profile names a directory that does not
// exist yet; the script creates it and each child writes its CPU and heap
// profiles there (it used to fail with "did not report its address").
func TestProfileDirectoryIsCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles", "today")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-duration", "1s", "-requests", "100", "-concurrency", "2",
		"-targets", "noop", "-scenarios", "max", "-profile", dir}, &out))
	for _, name := range []string{"noop-max.cpu", "noop-max.heap"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "the child's profile %s", name)
		assert.Positive(t, fi.Size(), "%s is not empty", name)
	}
}

// TestLoadScriptSmoke runs every scenario briefly against every target and
// checks the figures are there and sane: every request of the max scenario
// answered 200 by each target.
func TestLoadScriptSmoke(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-duration", "1s", "-requests", "200", "-concurrency", "4",
		"-rate", "200", "-overload-conns", "64"}, &out))
	t.Log("\n" + out.String())
	for _, row := range []struct{ target, scenario string }{
		{"chatwarden", "max"}, {"reference", "max"}, {"noop", "max"},
		{"chatwarden", "rate"}, {"noop", "rate"}, {"chatwarden", "overload"},
	} {
		m := regexp.MustCompile(`(?m)^` + row.target + `\s+` + row.scenario + `\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "a result line for %s %s", row.target, row.scenario)
		requests, _ := strconv.Atoi(m[1])
		ok, _ := strconv.Atoi(m[2])
		assert.Positive(t, requests, "%s %s", row.target, row.scenario)
		if row.scenario == "max" {
			assert.Equal(t, requests, ok, "%s answered every request 200", row.target)
		}
	}
	assert.Regexp(t, `(?m)^chatwarden\s+max.*\s\d+\.\d\s+\d+\.\d$`, out.String(), "memory figures")
}

// TestMaxInflightReachesTheTarget: with -max-inflight 1 and 32 connections
// posting as fast as answered, the receiver must shed some and accept some;
// with its default (256) it would shed none of 32.
func TestMaxInflightReachesTheTarget(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-duration", "1s", "-requests", "2000", "-targets", "chatwarden-receive",
		"-scenarios", "overload", "-overload-conns", "32", "-max-inflight", "1"}, &out))
	t.Log("\n" + out.String())
	m := regexp.MustCompile(`(?m)^chatwarden-receive\s+overload\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "a result line")
	ok, _ := strconv.Atoi(m[2])
	shed, _ := strconv.Atoi(m[3])
	assert.Positive(t, ok, "accepted")
	assert.Positive(t, shed, "shed with 503")
}

// TestSettingsReachTheChild: -partitions and -duplicate-window become the
// child's nats.partitions and nats.duplicate_window, so a value its
// configuration refuses fails the child, and the report gives the
// configuration's own words; a valid one serves.
func TestSettingsReachTheChild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flag    string
		value   string
		wantErr string
	}{
		{name: "partitions refused", flag: "-partitions", value: "5000", wantErr: "nats.partitions: must be between 1 and 1024, got 5000"},
		{name: "partitions served", flag: "-partitions", value: "3"},
		{name: "window refused", flag: "-duplicate-window", value: "200h", wantErr: "nats.duplicate_window: must not exceed nats.retention"},
		{name: "window served", flag: "-duplicate-window", value: "2m"},
		{name: "memory budget refused", flag: "-max-memory", value: "1000", wantErr: "http.max_memory_bytes: must be 0 (no budget) or at least 67108864 (64 MiB), got 1000"},
		{name: "memory budget served", flag: "-max-memory", value: "1073741824"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"-duration", "1s", "-requests", "50", "-concurrency", "2",
				"-targets", "chatwarden-receive", "-scenarios", "max", tc.flag, tc.value}, &out)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "chatwarden-receive child did not report its address")
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Regexp(t, `(?m)^chatwarden-receive\s+max\s+\S+\s+50\s+50\s`, out.String())
		})
	}
}

func TestNegativeSettingsAreRefused(t *testing.T) {
	for _, tc := range []struct{ flag, value, want string }{
		{"-max-inflight", "-1", "-max-inflight -1: want 0 (the default) or more"},
		{"-partitions", "-1", "-partitions -1: want 0 (the default) or more"},
		{"-duplicate-window", "-1s", "-duplicate-window -1s: want 0 (the default) or more"},
		{"-max-memory", "-1", "-max-memory -1: want 0 (no budget) or more"},
		{"-attack-addrs", "0", "-attack-conns 300, -attack-addrs 0, -attack-rate 200: want 0..5000, 1..5000 and 1 or more"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			assert.EqualError(t, run(context.Background(), []string{tc.flag, tc.value}, io.Discard), tc.want)
		})
	}
}

// TestStallScenario: the stall scenario opens its stalled connections (from
// 127.0.0.1 and from other loopback addresses) and reports the genuine
// webhooks by status: against chatwarden, every one is stored (200).
func TestStallScenario(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-duration", "2s", "-targets", "chatwarden-receive", "-scenarios", "stall",
		"-attack-conns", "20", "-attack-addrs", "5", "-attack-rate", "50"}, &out))
	t.Log("\n" + out.String())
	m := regexp.MustCompile(`(?m)^chatwarden-receive stall: genuine webhooks by status 200=(\d+), failed 0; stalled connections opened (\d+) `).FindStringSubmatch(out.String())
	require.NotNil(t, m, "every genuine webhook answered 200")
	ok, _ := strconv.Atoi(m[1])
	opened, _ := strconv.Atoi(m[2])
	assert.Greater(t, ok, 50, "genuine webhooks over 2 s at 50/s")
	assert.GreaterOrEqual(t, opened, 40, "every stalled connection opened")
}
