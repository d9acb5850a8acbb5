package certs

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZap hands certmagic's zap logging to the daemon's slog logger, so an
// ACME failure shows up in the daemon's log with the rest.
func newZap(log *slog.Logger) *zap.Logger {
	return zap.New(zapSlog{log: log})
}

// zapSlog is a zapcore.Core that writes to a slog.Logger.
type zapSlog struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func level(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (z zapSlog) Enabled(l zapcore.Level) bool {
	return z.log.Enabled(context.Background(), level(l))
}

func (z zapSlog) With(fields []zapcore.Field) zapcore.Core {
	return zapSlog{log: z.log, fields: append(append([]zapcore.Field(nil), z.fields...), fields...)}
}

func (z zapSlog) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if z.Enabled(e.Level) {
		return ce.AddCore(e, z)
	}
	return ce
}

func (z zapSlog) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), z.fields...), fields...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	z.log.LogAttrs(context.Background(), level(e.Level), e.Message, attrs...)
	return nil
}

func (z zapSlog) Sync() error { return nil }
