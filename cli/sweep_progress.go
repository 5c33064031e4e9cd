package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/chatwarden/chatwarden/sweep"
)

// sweepProgress shows how a sweep goes on stderr: a bar redrawn in place on
// a terminal, a plain line every few seconds otherwise, nothing with --json.
type sweepProgress struct {
	w       io.Writer
	tty     bool
	enabled bool
	tracker *sweep.Tracker

	mu       sync.Mutex
	phase    string
	list     sweep.ListProgress
	total    int
	pub      sweep.Published
	started  time.Time
	lastLine time.Time
	drawn    bool
	stopOnce sync.Once
	done     chan struct{}
	stopped  chan struct{}
}

func newSweepProgress(w io.Writer, enabled bool) *sweepProgress {
	p := &sweepProgress{w: w, enabled: enabled, phase: "listing", started: time.Now(),
		done: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	if !enabled {
		close(p.stopped)
		return p
	}
	go p.loop()
	return p
}

func (p *sweepProgress) loop() {
	defer close(p.stopped)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

func (p *sweepProgress) follow(t *sweep.Tracker) {
	p.mu.Lock()
	p.tracker = t
	p.mu.Unlock()
}

func (p *sweepProgress) listed(lp sweep.ListProgress) {
	p.mu.Lock()
	p.list = lp
	p.mu.Unlock()
}

func (p *sweepProgress) publishing(total int) {
	p.mu.Lock()
	p.phase, p.total = "publishing", total
	p.mu.Unlock()
}

func (p *sweepProgress) published(n sweep.Published) {
	p.mu.Lock()
	p.pub = n
	p.mu.Unlock()
}

func (p *sweepProgress) waiting() {
	p.mu.Lock()
	p.phase = "waiting"
	p.mu.Unlock()
}

// stop draws the last state and ends the display (idempotent).
func (p *sweepProgress) stop() {
	p.stopOnce.Do(func() {
		close(p.done)
		<-p.stopped
	})
}

func (p *sweepProgress) draw(final bool) {
	p.mu.Lock()
	phase, list, total, pub, tracker := p.phase, p.list, p.total, p.pub, p.tracker
	p.mu.Unlock()
	var c sweep.Counts
	if tracker != nil {
		c = tracker.Counts()
	}
	elapsed := time.Since(p.started).Round(time.Second)
	var line string
	if phase == "listing" {
		line = fmt.Sprintf("listing: %s, %s found", quantity(list.Pages, "page", "pages"), quantity(list.Chats, "chat", "chats"))
	} else {
		done := pub.Total()
		if tracker != nil {
			done = c.Decided()
		}
		line = fmt.Sprintf("%s %d/%d", bar(done, total, 24), done, total)
		if tracker != nil {
			line += fmt.Sprintf("  unpinned %d  skipped %d  failed %d  queued %d", c.Unpinned+c.Acted+c.DryRun, c.Skipped, c.Failed, c.Pending)
			if s := elapsed.Seconds(); s > 0 && done > 0 && done < total {
				eta := time.Duration(float64(total-done) / (float64(done) / s) * float64(time.Second)).Round(time.Second)
				line += fmt.Sprintf("  eta %s", eta)
			}
		}
	}
	line += fmt.Sprintf("  %s", elapsed)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	if final || time.Since(p.lastLine) >= 5*time.Second {
		if final && !p.drawn && phase == "listing" && list.Pages == 0 {
			return
		}
		fmt.Fprintln(p.w, "sweep: "+line)
		p.lastLine, p.drawn = time.Now(), true
	}
}

func bar(done, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := min(width, done*width/total)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
