package forge

import "log/slog"

// CronLog adapts slog to robfig/cron's logger, for the schedules of the
// poller and the collector: cron's chatter goes to debug, a recovered panic
// to error.
type CronLog struct{ Log *slog.Logger }

// Info logs cron's routine messages at debug.
func (l CronLog) Info(msg string, kv ...any) { l.Log.Debug("cron: "+msg, kv...) }

// Error logs cron's failures, such as a job's recovered panic.
func (l CronLog) Error(err error, msg string, kv ...any) {
	l.Log.Error("cron: "+msg, append(kv, "error", err)...)
}
