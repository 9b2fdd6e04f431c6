package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/problem"
)

// A request's body must arrive within Config.ReadTimeout of its headers
// (which themselves must arrive within ReadHeaderTimeout).
//
// The middleware sets that read deadline on the connection itself, rather
// than http.Server.ReadTimeout, so that the bound and its 408 travel with
// the handler whatever server serves it, and so that it knows for certain
// when a failed read was its deadline. Only requests with a body get one:
// a WebSocket upgrade has none (gorilla also clears the server's deadlines
// when it takes the connection over, and the overlay sets its own). Once
// the body has been read to its end, net/http clears the deadline before
// it watches the connection for a client that hangs up, so a handler may
// run as long as it needs.

// deadlineBody is a request body read under a deadline; it remembers when
// a read failed because the deadline passed.
type deadlineBody struct {
	io.ReadCloser
	deadline time.Time
	expired  atomic.Bool
}

// withReadDeadline puts r's body under the deadline start+d; it returns
// nil (and leaves r alone) when r has no body or its connection takes no
// deadline (e.g. a test's ResponseRecorder).
func withReadDeadline(w http.ResponseWriter, r *http.Request, start time.Time, d time.Duration) *deadlineBody {
	if d <= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &deadlineBody{ReadCloser: r.Body, deadline: start.Add(d)}
	if err := http.NewResponseController(w).SetReadDeadline(b.deadline); err != nil {
		return nil
	}
	r.Body = b
	return b
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && (errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(b.deadline)) {
		b.expired.Store(true)
	}
	return n, err
}

// timedOut reports whether the body's deadline ended a read.
func (b *deadlineBody) timedOut() bool { return b != nil && b.expired.Load() }

// writeRequestTimeout answers 408 on w (the writer under the middleware's):
// the connection is closed after it, since the rest of the body will not
// be read.
func writeRequestTimeout(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Connection", "close")
	problem.Respond(w, http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
}
