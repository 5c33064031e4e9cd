package config

import (
	"errors"
	"fmt"
	"strings"
)

// Expand replaces environment references in s, as Load does in every value
// of the config file:
//
//	${NAME}            the value of NAME; "" when NAME is unset
//	${NAME:-default}   the value of NAME, or default when NAME is unset or
//	                   empty; default may itself contain references
//	${NAME:?message}   the value of NAME; an error saying message when NAME
//	                   is unset or empty
//	$$                 a literal $
//
// ${NAME-default} and ${NAME?message} are accepted too and behave like the
// colon forms: getenv cannot tell an unset variable from an empty one. A $
// followed by anything else is kept as it is, so "pa$word" needs no escape;
// $NAME without braces is not a reference. Values are expanded once: a
// variable whose value contains "${X}" yields that text. getenv is never
// os.Getenv inside chatwarden; pass it in. A nil getenv is an empty
// environment.
func Expand(s string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", errors.New("${ without a closing }")
			}
			v, err := expandRef(s[i+2:end], getenv)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes a ${ whose body starts
// at start, skipping nested ${...} and $$; -1 if there is none.
func closingBrace(s string, start int) int {
	depth := 0
	for j := start; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '$':
			j++
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '{':
			depth++
			j++
		case s[j] == '}':
			if depth == 0 {
				return j
			}
			depth--
		}
	}
	return -1
}

// expandRef expands the body of one ${...}.
func expandRef(body string, getenv func(string) string) (string, error) {
	n := 0
	for n < len(body) && isNameByte(body[n], n == 0) {
		n++
	}
	name, rest := body[:n], body[n:]
	if name == "" {
		return "", fmt.Errorf("${%s}: a variable name (letters, digits, _; not starting with a digit) must follow ${", body)
	}
	v := getenv(name)
	op, arg := rest, ""
	switch {
	case rest == "":
		return v, nil
	case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":?"):
		op, arg = rest[:2], rest[2:]
	case strings.HasPrefix(rest, "-"), strings.HasPrefix(rest, "?"):
		op, arg = ":"+rest[:1], rest[1:]
	default:
		return "", fmt.Errorf("${%s}: unsupported form; use ${%s}, ${%s:-default} or ${%s:?message}", body, name, name, name)
	}
	if v != "" {
		return v, nil
	}
	if op == ":-" {
		return Expand(arg, getenv)
	}
	msg, err := Expand(arg, getenv)
	if err != nil {
		return "", err
	}
	if msg == "" {
		msg = "must be set"
	}
	return "", &envError{name: name, msg: msg}
}

// envError is a required variable (${NAME:?message}) found empty.
type envError struct{ name, msg string }

func (e *envError) Error() string {
	return fmt.Sprintf("environment variable %s is empty or unset: %s", e.name, e.msg)
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}
