package cli

import "strconv"

// quantity writes n followed by the noun that agrees with it: "1 record",
// "0 records", "2 records". one and many are the singular and plural forms.
func quantity(n int, one, many string) string {
	return strconv.Itoa(n) + " " + plural(n, one, many)
}
