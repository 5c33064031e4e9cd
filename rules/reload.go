package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/metrics"
)

// Reload loads path and puts it in force. A file that does not load is
// refused: the error is returned and logged, and the rules in force stay.
// As at start (see service.LoadRules), an `on` action this version does not
// know is logged as a warning, not refused (AllowUnknownActions).
// Either way it counts in chatwarden_rule_reloads_total{outcome="ok"|"failed"}.
func (e *Engine) Reload(path string) error {
	set, err := LoadFile(path, e.actions, e.handlers, AllowUnknownActions())
	if err != nil {
		e.metrics.RuleReloads.WithLabelValues(metrics.ReloadFailed).Inc()
		e.logger.Error("rule file refused; the previous rules stay in force", zap.String("rules_file", path), zap.Error(err))
		return err
	}
	e.Swap(set)
	e.metrics.RuleReloads.WithLabelValues(metrics.ReloadOK).Inc()
	e.logger.Info("rules reloaded", zap.String("rules_file", path), zap.Int("rules", set.Len()))
	LogWarnings(e.logger, path, set)
	return nil
}

// LogWarnings logs each of set's warnings (RuleSet.Warnings) at WARN, with
// the rule file, the rule and the line.
func LogWarnings(logger *zap.Logger, path string, set *RuleSet) {
	for _, w := range set.Warnings() {
		logger.Warn("rule file: "+w.Text, zap.String("rules_file", path), zap.String("rule", w.Rule), zap.Int("line", w.Line))
	}
}

// Watch reloads path into the engine whenever the file changes on disk
// (written in place, or replaced by an editor or a config-map update) and
// whenever signal receives (SIGHUP). Changes are debounced by 200ms. It
// returns when ctx ends, or at once if the file's directory cannot be
// watched.
func (e *Engine) Watch(ctx context.Context, path string, signal <-chan struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching rules_file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watching rules_file directory %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		target := filepath.Clean(path)
		var debounce <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-signal:
				_ = e.Reload(path)
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == target && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					debounce = time.After(200 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				e.logger.Warn("watching the rule file", zap.Error(err))
			case <-debounce:
				debounce = nil
				_ = e.Reload(path)
			}
		}
	}()
	return nil
}
