// Command testsummary reads the events of `go test -json` on stdin and prints
// what `go test` without -json would have printed (each package's closing
// line, the output of every failed test, build errors), then every skipped
// test with its reason, then one closing line "N passed, N failed" (tests and
// subtests; a package that failed without a failed test, say by a build error,
// a panic or a timeout, counts as one failure).
//
// With -allowed FILE it also fails when a test skipped that FILE does not list:
// CI lets nothing skip silently. FILE has one allowed skip a line, "#"
// comments and blank lines ignored:
//
//	<import path> <test name> <reason, required>
//
// It exits 1 when a test or package failed or a test skipped that is not
// allowed, and 2 on bad usage or an unreadable FILE. .ci/run uses it as
//
//	go test -race ./... -json 2>&1 | testsummary -allowed .ci/allowed-skips
//
// Lines on stdin that are not JSON events (go's own errors) are printed as
// they are.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errFailed is returned by summarize when a test failed or skipped without
// being allowed to.
var errFailed = errors.New("tests failed or skipped")

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testsummary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowedPath := fs.String("allowed", "", "file of allowed skips (`import-path test reason` a line); without it every skip is allowed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var allowed map[testID]string
	if *allowedPath != "" {
		data, err := os.ReadFile(*allowedPath)
		if err != nil {
			fmt.Fprintf(stderr, "testsummary: reading allowed skips: %v\n", err)
			return 2
		}
		allowed, err = parseAllowed(string(data))
		if err != nil {
			fmt.Fprintf(stderr, "testsummary: %s: %v\n", *allowedPath, err)
			return 2
		}
	}
	if err := summarize(stdin, stdout, allowed); err != nil {
		if errors.Is(err, errFailed) {
			return 1
		}
		fmt.Fprintf(stderr, "testsummary: %v\n", err)
		return 2
	}
	return 0
}

// testID names one test or subtest.
type testID struct {
	Package string
	Test    string
}

// event is one line of `go test -json` (cmd/test2json), with the build events
// of `go test -json` since Go 1.24.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // package fail caused by a build failure
}

// parseAllowed reads the allowed-skips file: a missing reason is an error, so
// every allowed skip says why.
func parseAllowed(text string) (map[testID]string, error) {
	allowed := map[testID]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("line %d: want `<import path> <test name> <reason>`, got %q", i+1, line)
		}
		allowed[testID{fields[0], fields[1]}] = strings.Join(fields[2:], " ")
	}
	return allowed, nil
}

// skip is a skipped test and what it printed.
type skip struct {
	testID
	Reason string
}

// summarize copies the readable part of the events on r to w and closes with
// the skipped tests and the counts. allowed nil allows every skip. It returns
// errFailed when a test or package failed or a test skipped that is not in
// allowed.
func summarize(r io.Reader, w io.Writer, allowed map[testID]string) error {
	var (
		passed, failed int
		skips          []skip
		// output of each running test, printed when it fails
		running = map[testID]*bytes.Buffer{}
		// packages with a failed test, so that a package's own failure
		// is not counted twice
		pkgHadFailure = map[string]bool{}
		failedPkgs    []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		if ev.Action == "build-output" {
			fmt.Fprint(w, ev.Output)
			continue
		}
		if ev.Test == "" {
			// Tests that never ended (a panic, the timeout): their output
			// says why, printed before the package's FAIL lines.
			flush := func() {
				var ids []testID
				for id := range running {
					if id.Package == ev.Package {
						ids = append(ids, id)
					}
				}
				sort.Slice(ids, func(i, j int) bool { return ids[i].Test < ids[j].Test })
				for _, id := range ids {
					fmt.Fprint(w, running[id].String())
					delete(running, id)
				}
			}
			switch ev.Action {
			case "output":
				if strings.HasPrefix(ev.Output, "FAIL") {
					flush()
				}
				// go test without -v prints no PASS line for a package.
				if ev.Output != "PASS\n" {
					fmt.Fprint(w, ev.Output)
				}
			case "fail":
				flush()
				if !pkgHadFailure[ev.Package] {
					failed++
					why := "no test failed: a panic, a timeout or TestMain"
					if ev.FailedBuild != "" {
						why = "build failed"
					}
					failedPkgs = append(failedPkgs, ev.Package+" ("+why+")")
				}
			}
			continue
		}
		id := testID{ev.Package, ev.Test}
		switch ev.Action {
		case "run":
			running[id] = &bytes.Buffer{}
		case "output":
			buf := running[id]
			if buf == nil {
				buf = &bytes.Buffer{}
				running[id] = buf
			}
			buf.WriteString(ev.Output)
		case "pass":
			passed++
			delete(running, id)
		case "skip":
			skips = append(skips, skip{id, skipReason(running[id])})
			delete(running, id)
		case "fail":
			failed++
			pkgHadFailure[ev.Package] = true
			if buf := running[id]; buf != nil {
				fmt.Fprint(w, buf.String())
			}
			delete(running, id)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading go test -json events: %w", err)
	}

	var notAllowed []skip
	if len(skips) > 0 {
		fmt.Fprintf(w, "--- skipped tests (%d):\n", len(skips))
	}
	for _, s := range skips {
		mark := "SKIP"
		if allowed != nil {
			if why, ok := allowed[s.testID]; ok {
				mark = "SKIP (allowed: " + why + ")"
			} else {
				mark = "SKIP (NOT ALLOWED)"
				notAllowed = append(notAllowed, s)
			}
		}
		fmt.Fprintf(w, "%s %s %s: %s\n", mark, s.Package, s.Test, s.Reason)
	}
	for _, p := range failedPkgs {
		fmt.Fprintf(w, "FAIL package %s\n", p)
	}
	if len(notAllowed) > 0 {
		fmt.Fprintf(w, "FAIL: %d tests skipped that must run (allowed skips are listed, each with its reason, in the -allowed file):", len(notAllowed))
		for _, s := range notAllowed {
			fmt.Fprintf(w, " %s.%s", s.Package, s.Test)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d skipped (%d not allowed)\n", len(skips), len(notAllowed))
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if failed > 0 || len(notAllowed) > 0 {
		return errFailed
	}
	return nil
}

// skipReason is what a skipped test printed, without the lines test2json
// frames it with.
func skipReason(out *bytes.Buffer) string {
	if out == nil {
		return "(no reason given)"
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " | ")
}
