package sqlite

import "context"

// InsertRows is insertRows, for tests that span several INSERT statements.
const InsertRows = insertRows

// BusyTimeout returns the writer connection's busy timeout in milliseconds.
func BusyTimeout(l *Log) (int64, error) {
	if err := l.lockWriter(context.Background()); err != nil {
		return 0, err
	}
	defer l.unlockWriter()
	var ms int64
	err := l.wconn.QueryRowContext(context.Background(), "PRAGMA busy_timeout").Scan(&ms)
	return ms, err
}
