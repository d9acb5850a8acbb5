package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// statusError is an error that carries the HTTP status it should be
// answered with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// Errorf returns an error answered with the given HTTP status.
func Errorf(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// StatusOf returns the HTTP status an error is answered with: the one it
// carries, or 500.
func StatusOf(err error) int {
	if se, ok := errors.AsType[*statusError](err); ok {
		return se.status
	}
	return http.StatusInternalServerError
}

// Handler adapts a handler that returns an error to http.Handler. It is the
// one place where errors become status codes and {"error": "…"} bodies; a 500
// never shows its detail to the caller.
type Handler func(w http.ResponseWriter, r *http.Request) error

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	status := StatusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	_ = WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
