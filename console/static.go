package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static is the console's page: index.html, app.js and app.css, plain files
// with no build step, embedded in the binary. The page holds no data; it
// asks for the admin token once (kept in sessionStorage) and sends it as
// "Authorization: Bearer" with every call to /admin/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
