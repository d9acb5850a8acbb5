package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHandler checks the one adapter from errors to status codes.
func TestHandler(t *testing.T) {
	tests := []struct {
		name       string
		h          Handler
		wantStatus int
		wantBody   string
		wantRetry  string
	}{
		{
			name: "status error",
			h: func(http.ResponseWriter, *http.Request) error {
				return Errorf(http.StatusConflict, "deploy %d is running", 7)
			},
			wantStatus: http.StatusConflict,
			wantBody:   `{"error":"deploy 7 is running"}`,
		},
		{
			name: "wrapped status error keeps its status",
			h: func(http.ResponseWriter, *http.Request) error {
				return fmt.Errorf("rollback: %w", Errorf(http.StatusNotFound, "no deploy 9"))
			},
			wantStatus: http.StatusNotFound,
			wantBody:   `{"error":"rollback: no deploy 9"}`,
		},
		{
			name: "plain error is a 500 without detail",
			h: func(http.ResponseWriter, *http.Request) error {
				return errors.New("open /etc/forge/secret: permission denied")
			},
			wantStatus: http.StatusInternalServerError,
			wantBody:   `{"error":"internal error"}`,
		},
		{
			name:       "503 asks to retry",
			h:          func(http.ResponseWriter, *http.Request) error { return Errorf(http.StatusServiceUnavailable, "busy") },
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   `{"error":"busy"}`,
			wantRetry:  "5",
		},
		{
			name: "nil error leaves the answer alone",
			h: func(w http.ResponseWriter, _ *http.Request) error {
				return WriteJSON(w, http.StatusCreated, map[string]int{"id": 3})
			},
			wantStatus: http.StatusCreated,
			wantBody:   `{"id":3}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, rec.Body.Bytes()); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if compact.String() != tt.wantBody {
				t.Errorf("body = %s, want %s", compact.String(), tt.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}
