// Package yamlline corrects the line numbers of yaml.v3's syntax errors.
//
// yaml.v3 (go.yaml.in/yaml/v3, decode.go parser.fail) counts the line of a
// scanner error from 1 but the line of a parser error from 0, so a parser
// error ("did not find expected key", an unclosed [ or {, ...) names the
// line before the one it means. Fix adds the missing 1 for those messages.
package yamlline

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// parserProblems are the messages yaml.v3's parser (parserc.go) fails with;
// its scanner uses none of them.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Fix returns err with its line counted from 1 when it is a yaml.v3 parser
// error ("yaml: line N: <parser problem>"), never past the last line of
// data (the end of the stream counts as a line of its own in yaml.v3);
// any other error is returned as is. The result keeps yaml.v3's wording.
func Fix(data []byte, err error) error {
	if err == nil {
		return nil
	}
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	isParser := false
	for _, p := range parserProblems {
		if strings.HasPrefix(m[2], p) {
			isParser = true
			break
		}
	}
	if !isParser {
		return err
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	n++
	if last := lastLine(data); n > last {
		n = last
	}
	return fmt.Errorf("yaml: line %d: %s", n, m[2])
}

// lastLine is the number of the last line of data, 1 when empty; a final
// line break does not start another line.
func lastLine(data []byte) int {
	return bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
}
