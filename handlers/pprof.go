package handlers

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/labstack/echo/v4"
)

// profiler serves Go's profiler under /debug/pprof/ (the index, cmdline,
// profile, symbol, trace and every named profile such as heap or goroutine),
// as net/http/pprof does on http.DefaultServeMux. It is on the admin
// listener only, behind the admin token: a CPU profile costs CPU and a heap
// profile shows what the process holds.
func profiler() echo.HandlerFunc {
	named := map[string]http.HandlerFunc{
		"cmdline": pprof.Cmdline,
		"profile": pprof.Profile,
		"symbol":  pprof.Symbol,
		"trace":   pprof.Trace,
	}
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Param("*"), "/")
		if h, ok := named[name]; ok {
			h(c.Response(), c.Request())
			return nil
		}
		// pprof.Index serves the index for "" and a named profile otherwise,
		// reading the name from the path after /debug/pprof/.
		pprof.Index(c.Response(), c.Request())
		return nil
	}
}
