package rocketchat_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// seedRooms stores n rooms R001.. created a minute apart: odd ones open and
// queued in department D1, even ones served by agent A and tagged vip; every
// fifth is closed.
func seedRooms(srv *rocketchattest.Server, n int) {
	for i := 1; i <= n; i++ {
		r := rocketchat.Room{ID: fmt.Sprintf("R%03d", i), Name: fmt.Sprintf("Visitor %d", i), Open: true,
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), Visitor: &rocketchat.Visitor{ID: fmt.Sprintf("V%03d", i)}}
		if i%2 == 1 {
			r.DepartmentID = "D1"
		} else {
			r.ServedBy = &rocketchat.UserRef{ID: "A", Username: "ana"}
			r.Tags = []string{"vip"}
		}
		if i%5 == 0 {
			r.Open = false
			r.ClosedAt = r.CreatedAt.Add(time.Hour)
		}
		srv.AddRoom(r)
	}
}

func TestListInquiriesPaging(t *testing.T) {
	srv, url := newFake(t)
	seedRooms(srv, 250)
	c := newClient(t, url)
	var ids []string
	for inq, err := range c.ListInquiries(t.Context(), rocketchat.InquiriesQuery{Department: "D1"}) {
		require.NoError(t, err)
		assert.Equal(t, rocketchat.InquiryQueued, inq.Status)
		ids = append(ids, inq.RoomID)
	}
	// Odd rooms that are not closed: 125 odd, minus the 25 odd multiples of 5.
	assert.Len(t, ids, 100)
	assert.Equal(t, "R001", ids[0])
	calls := srv.CallsTo(rocketchat.PathInquiriesList)
	require.Len(t, calls, 1, "100 fit in one page of 100")

	ids = nil
	for inq, err := range c.ListInquiries(t.Context(), rocketchat.InquiriesQuery{PageSize: 30}) {
		require.NoError(t, err)
		ids = append(ids, inq.RoomID)
	}
	assert.Len(t, ids, 100)
	calls = srv.CallsTo(rocketchat.PathInquiriesList)[1:]
	require.Len(t, calls, 4)
	for i, want := range []string{"0", "30", "60", "90"} {
		assert.Equal(t, want, calls[i].Query.Get("offset"))
		assert.Equal(t, "30", calls[i].Query.Get("count"))
	}
}

func TestListRoomsFilters(t *testing.T) {
	srv, url := newFake(t)
	seedRooms(srv, 20)
	c := newClient(t, url)
	yes, no := true, false
	collect := func(q rocketchat.RoomsQuery) []string {
		t.Helper()
		var ids []string
		for r, err := range c.ListRooms(t.Context(), q) {
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		return ids
	}
	asc := []rocketchat.SortKey{{Field: "ts"}}
	tests := []struct {
		name string
		q    rocketchat.RoomsQuery
		want []string
	}{
		{"open, served by A, first 5 minutes", rocketchat.RoomsQuery{Open: &yes, Agents: []string{"A"},
			CreatedAt: &rocketchat.DateRange{End: t0.Add(5 * time.Minute)}, Sort: asc}, []string{"R002", "R004"}},
		{"closed", rocketchat.RoomsQuery{Open: &no, Sort: asc}, []string{"R005", "R010", "R015", "R020"}},
		{"tag and department exclude each other", rocketchat.RoomsQuery{Tags: []string{"vip"}, DepartmentID: "D1"}, nil},
		{"by name, newest first", rocketchat.RoomsQuery{RoomName: "visitor 1"}, []string{"R019", "R018", "R017", "R016", "R015", "R014", "R013", "R012", "R011", "R010", "R001"}},
		{"paged", rocketchat.RoomsQuery{Tags: []string{"vip"}, Open: &yes, PageSize: 3, Sort: asc},
			[]string{"R002", "R004", "R006", "R008", "R012", "R014", "R016", "R018"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, collect(tt.q))
		})
	}
}

func TestListIteratorStops(t *testing.T) {
	t.Run("on the first error", func(t *testing.T) {
		srv, url := newFake(t)
		seedRooms(srv, 10)
		srv.FailNext(rocketchat.PathRooms, 1, rocketchattest.ServerError())
		var rows, errs int
		for _, err := range newClient(t, url).ListRooms(t.Context(), rocketchat.RoomsQuery{}) {
			if err != nil {
				errs++
				assert.True(t, rocketchat.IsRetryable(err))
				continue
			}
			rows++
		}
		assert.Zero(t, rows)
		assert.Equal(t, 1, errs)
	})
	t.Run("on break", func(t *testing.T) {
		srv, url := newFake(t)
		seedRooms(srv, 10)
		for range newClient(t, url).ListRooms(t.Context(), rocketchat.RoomsQuery{PageSize: 2}) {
			break
		}
		assert.Len(t, srv.CallsTo(rocketchat.PathRooms), 1)
	})
	t.Run("on an empty page before total", func(t *testing.T) {
		url, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"rooms":[],"offset":0,"count":0,"total":40,"success":true}`))
		})
		for _, err := range newClient(t, url).ListRooms(t.Context(), rocketchat.RoomsQuery{}) {
			require.NoError(t, err)
		}
		assert.Len(t, reqs(), 1)
	})
}
