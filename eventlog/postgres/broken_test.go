package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestBroken: Append tries again on another connection after the
// connection's own failures only, never after a deadline or an error of
// the statement.
func TestBroken(t *testing.T) {
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		closed bool // the connection is closed after err
		want   bool
	}{
		{"terminated by an administrator", ctx, &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true, true},
		{"server crashed", ctx, &pgconn.PgError{Severity: "FATAL", Code: "57P02"}, true, true},
		{"idle session timeout", ctx, &pgconn.PgError{Severity: "FATAL", Code: "57P05"}, true, true},
		{"connection failure", ctx, &pgconn.PgError{Severity: "FATAL", Code: "08006"}, true, true},
		{"end of stream", ctx, fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true, true},
		{"eof", ctx, fmt.Errorf("read: %w", io.EOF), false, true},
		{"connection reset", ctx, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false, true},
		{"broken pipe", ctx, &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false, true},
		{"closed, whatever the error", ctx, errors.New("conn closed"), true, true},
		{"unique violation", ctx, &pgconn.PgError{Severity: "ERROR", Code: "23505"}, false, false},
		{"undefined table", ctx, &pgconn.PgError{Severity: "ERROR", Code: "42P01"}, false, false},
		{"deadline", ctx, fmt.Errorf("commit: %w", context.DeadlineExceeded), true, false},
		{"ctx ended, the connection closed by it", ended, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, false},
		{"anything else", ctx, errors.New("boom"), false, false},
	} {
		if got := broken(tc.ctx, tc.err, tc.closed); got != tc.want {
			t.Errorf("%s: broken(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
