package config

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSweepDefaults(t *testing.T) {
	assert.Equal(t, Sweep{OlderThan: 48 * time.Hour, Concurrency: 64, Wait: 2 * time.Minute}, Default().Sweep)
}

func TestSweepParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want Sweep
	}{
		{"left out: defaults", "", nil, Sweep{OlderThan: 48 * time.Hour, Concurrency: 64, Wait: 2 * time.Minute}},
		{"every key", `sweep: {schedule: "@every 1h", older_than: 72h, groups: [0, 3], limit: 500, concurrency: 8, max_rate: 2.5, wait: 30s}`, nil,
			Sweep{Schedule: "@every 1h", OlderThan: 72 * time.Hour, Groups: []int{0, 3}, Limit: 500, Concurrency: 8, MaxRate: 2.5, Wait: 30 * time.Second}},
		{"empty groups is none", "sweep: {groups: []}", nil, Sweep{OlderThan: 48 * time.Hour, Concurrency: 64, Wait: 2 * time.Minute}},
		{"max_rate from the environment", `sweep: {max_rate: "${RATE}", schedule: "${SCHEDULE}"}`, []string{"RATE", "10", "SCHEDULE", "0 0 3 * * *"},
			Sweep{Schedule: "0 0 3 * * *", OlderThan: 48 * time.Hour, Concurrency: 64, MaxRate: 10, Wait: 2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), env(tt.env...))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Sweep)
		})
	}
}

func TestSweepParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"max_rate not a number", "sweep: {max_rate: fast}", `sweep.max_rate (line 1): must be a number, got "fast"`},
		{"older_than in days", "sweep: {older_than: 2d}", `durations have no days unit; write hours, e.g. "48h"`},
		{"unknown key", "sweep: {olderthan: 1h}", `sweep.olderthan (line 1): unknown key; did you mean "sweep.older_than"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSweepValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *Sweep)
		want   []string
	}{
		{"defaults", func(s *Sweep) {}, nil},
		{"every hour", func(s *Sweep) { s.Schedule = "@every 1h" }, nil},
		{"hourly", func(s *Sweep) { s.Schedule = "@hourly" }, nil},
		{"cron", func(s *Sweep) { s.Schedule = "0 30 2 * * *" }, nil},
		{"cron with 5 fields", func(s *Sweep) { s.Schedule = "30 2 * * *" },
			[]string{`sweep.schedule: a cron expression needs 6 fields (second minute hour day-of-month month day-of-week, e.g. "0 0 * * * *"), got 5 in "30 2 * * *"`}},
		{"every too short", func(s *Sweep) { s.Schedule = "@every 500ms" },
			[]string{`sweep.schedule: "@every" needs at least 1s, got 500ms`}},
		{"every without unit", func(s *Sweep) { s.Schedule = "@every 60" },
			[]string{`sweep.schedule: "@every" needs a duration such as 30m or 1h, got "60"`}},
		{"unknown shortcut", func(s *Sweep) { s.Schedule = "@reboot" },
			[]string{`sweep.schedule: unknown schedule "@reboot": use "@every 1h", @hourly, @daily, @weekly, @monthly, @yearly or a 6-field cron expression`}},
		{"older_than negative", func(s *Sweep) { s.OlderThan = -time.Hour },
			[]string{`sweep.older_than: must be a positive duration, got -1h0m0s`}},
		{"negative group", func(s *Sweep) { s.Groups = []int{1, -2} },
			[]string{`sweep.groups[1]: must be a group id (0 or more), got -2`}},
		{"too many groups", func(s *Sweep) { s.Groups = make([]int, 201) },
			[]string{`sweep.groups: must list at most 200 groups, got 201`}},
		{"negative limit", func(s *Sweep) { s.Limit = -1 },
			[]string{`sweep.limit: must be 0 (no cap) or more, got -1`}},
		{"concurrency zero", func(s *Sweep) { s.Concurrency = 0 },
			[]string{`sweep.concurrency: must be between 1 and 10000, got 0`}},
		{"negative max_rate", func(s *Sweep) { s.MaxRate = -1 },
			[]string{`sweep.max_rate: must be 0 (no cap) or a positive number of chats per second, got -1`}},
		{"infinite max_rate", func(s *Sweep) { s.MaxRate = math.Inf(1) },
			[]string{`sweep.max_rate: must be 0 (no cap) or a positive number of chats per second, got +Inf`}},
		{"wait zero", func(s *Sweep) { s.Wait = 0 },
			[]string{`sweep.wait: must be a positive duration, got 0s`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c.Sweep)
			err := c.Validate()
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRedactedCopiesSweepGroups(t *testing.T) {
	c := Default()
	c.Sweep.Groups = []int{1}
	r := c.Redacted()
	r.Sweep.Groups[0] = 2
	assert.Equal(t, []int{1}, c.Sweep.Groups)
}
